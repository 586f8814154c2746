"""The interventions panel's caches: each view computed on request and kept per process, keyed by the trace's
key, the moment and the view's settings. Results are never changed after they are made, so one object serves
every session that asks.

The long views report progress to the bar of whoever computes them; Streamlit's cached functions replay
the elements they touch, so these keep their results in a small store of their own (one per process, the
most recent ``KEPT`` per view) instead.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable

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
    corrupted_prefix,
    intervene,
    patch_moment,
)
from tracing.inspection.interventions.specs import intervention_from_dict

KEPT = 16


@st.cache_resource(show_spinner=False)
def _store() -> tuple[dict[str, OrderedDict], threading.Lock]:
    return {}, threading.Lock()


def remembered(view: str, key: tuple, compute: Callable):
    """The stored result of ``view`` for ``key``, else ``compute()`` stored (a failure is not stored)."""
    views, lock = _store()
    with lock:
        kept = views.setdefault(view, OrderedDict())
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    result = compute()
    with lock:
        kept[key] = result
        while len(kept) > KEPT:
            kept.popitem(last=False)
    return result


def contributions_for(trace_key: str, moment: int, contrast_id: int | None, loaded, trace: Trace) -> Contributions:
    return remembered("contributions", (trace_key, moment, contrast_id),
                      lambda: contributions(loaded, trace, moment, contrast_id))  # fmt: skip


def sweep_for(
    trace_key: str, moment: int, method: str, scope: str, loaded, trace: Trace, progress=None
) -> AblationSweep:
    return remembered("sweep", (trace_key, moment, method, scope),
                      lambda: ablation_sweep(loaded, trace, moment, method, scope, progress))  # fmt: skip


def intervention_for(trace_key: str, moment: int, spec: str, loaded, trace: Trace) -> InterventionResult:
    """``spec``: the intervention's ``to_dict()`` as JSON."""
    return remembered("one", (trace_key, moment, spec),
                      lambda: intervene(loaded, trace, moment, intervention_from_dict(json.loads(spec))))  # fmt: skip


def patching_for(
    trace_key: str, moment: int, corrupted: str, every_position: bool, loaded, trace: Trace, progress=None
) -> Patching:
    def compute() -> Patching:
        positions = None
        if not every_position:  # the edited tokens and the moment's position: the cheap columns
            clean = trace.all_ids[: trace.prompt_len + moment]
            edited = corrupted_prefix(loaded, trace, moment, corrupted)
            positions = [p for p, (a, b) in enumerate(zip(clean, edited, strict=True)) if a != b] + [len(clean) - 1]
        return patch_moment(loaded, trace, moment, corrupted, positions=positions, progress=progress)

    return remembered("patching", (trace_key, moment, corrupted, every_position), compute)


def commitment_for(trace_key: str, loaded, trace: Trace, progress=None) -> Commitment:
    return remembered("commitment", (trace_key,), lambda: commitment(loaded, trace, progress))
