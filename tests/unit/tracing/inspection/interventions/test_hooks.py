"""Hooks are in place for the intervention's own forward passes only: removed afterwards (also on error), and
another session's forward on the shared model, waiting on the lock, sees the clean model."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.unit.tracing.inspection.interventions.conftest import MOMENT, last_log_probs, prefix_of
from tracing.inspection.interventions import Ablation, ablation_sweep, intervene
from tracing.inspection.interventions.hooks import Edits, installed

pytestmark = pytest.mark.slow


def hook_count(model) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


def test_no_hook_outlives_an_intervention(smollm, short_trace):
    before = hook_count(smollm.model)
    clean = last_log_probs(smollm.model, prefix_of(short_trace))
    intervene(smollm, short_trace, MOMENT, Ablation("attention", 3))
    assert hook_count(smollm.model) == before
    torch.testing.assert_close(last_log_probs(smollm.model, prefix_of(short_trace)), clean, rtol=0, atol=0)


def test_hooks_go_on_error_too(smollm):
    edits = Edits(smollm, smollm.layout)
    edits.replace_output(smollm.layout.mlp(smollm.base_model, 0), None, 0, 0.0)
    before = hook_count(smollm.model)
    with pytest.raises(RuntimeError, match="boom"), installed(edits):
        assert hook_count(smollm.model) == before + 1
        raise RuntimeError("boom")
    assert hook_count(smollm.model) == before


def test_another_session_sees_the_clean_model_during_a_sweep(smollm, short_trace):
    prefix = prefix_of(short_trace)
    clean = last_log_probs(smollm.model, prefix)
    seen = []
    started = threading.Event()

    def other_session():
        started.wait()
        for _ in range(5):
            with smollm.lock:
                seen.append(last_log_probs(smollm.model, prefix))

    thread = threading.Thread(target=other_session)
    thread.start()
    started.set()
    ablation_sweep(smollm, short_trace, MOMENT)
    thread.join()
    assert len(seen) == 5
    for log_probs in seen:
        torch.testing.assert_close(log_probs, clean, rtol=0, atol=0)
