"""Commitment read through a tuned lens: at which layer each moment's token is decided when every layer's state
is first translated by the model's lens (`tracing.inspection.interventions.commitment_map.commitment` with the
lens's translators)."""

from __future__ import annotations

from tracing.core.trace import Trace
from tracing.inspection.interventions.commitment_map import Progress, commitment
from tracing.inspection.interventions.results import Commitment
from tracing.inspection.tuned_lens.lens import TunedLens


def tuned_commitment(loaded, trace: Trace, lens: TunedLens, progress: Progress | None = None) -> Commitment:
    """The tuned-lens rank and probability of every moment's token at every layer of ``trace``."""
    return commitment(loaded, trace, progress, translate_row=lens.translate_row)
