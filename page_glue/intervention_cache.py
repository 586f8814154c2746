"""The interventions panel's caches: each view computed on request and kept per process, keyed by the trace's
key, the moment and the view's settings (the model and the trace are passed unhashed). Results are never
changed after they are made, so one object serves every session that asks. ``_progress`` is not part of
the key: it reports to the progress bar of whoever computes it first."""

from __future__ import annotations

import json

import streamlit as st

from tracing.core.trace import Trace
from tracing.inspection.interventions import (
    AblationSweep,
    Commitment,
    Contributions,
    InterventionResult,
    Patching,
    ablation_sweep,
    commitment,
    contributions,
    intervene,
    patch_moment,
)
from tracing.inspection.interventions.specs import intervention_from_dict


@st.cache_resource(max_entries=32, show_spinner=False)
def contributions_for(trace_key: str, moment: int, contrast_id: int | None, _loaded, _trace: Trace) -> Contributions:
    return contributions(_loaded, _trace, moment, contrast_id)


@st.cache_resource(max_entries=16, show_spinner=False)
def sweep_for(
    trace_key: str, moment: int, method: str, scope: str, _loaded, _trace: Trace, _progress=None
) -> AblationSweep:
    return ablation_sweep(_loaded, _trace, moment, method, scope, _progress)


@st.cache_resource(max_entries=32, show_spinner=False)
def intervention_for(trace_key: str, moment: int, spec: str, _loaded, _trace: Trace) -> InterventionResult:
    """``spec``: the intervention's ``to_dict()`` as JSON (hashable)."""
    return intervene(_loaded, _trace, moment, intervention_from_dict(json.loads(spec)))


@st.cache_resource(max_entries=8, show_spinner=False)
def patching_for(
    trace_key: str, moment: int, corrupted: str, every_position: bool, _loaded, _trace: Trace, _progress=None
) -> Patching:
    positions = None
    if not every_position:  # the edited tokens and the moment's position: the cheap columns
        from tracing.inspection.interventions import corrupted_prefix

        clean = _trace.all_ids[: _trace.prompt_len + moment]
        edited = corrupted_prefix(_loaded, _trace, moment, corrupted)
        positions = [p for p, (a, b) in enumerate(zip(clean, edited, strict=True)) if a != b] + [len(clean) - 1]
    return patch_moment(_loaded, _trace, moment, corrupted, positions=positions, progress=_progress)


@st.cache_resource(max_entries=8, show_spinner=False)
def commitment_for(trace_key: str, _loaded, _trace: Trace, _progress=None) -> Commitment:
    return commitment(_loaded, _trace, _progress)
