"""Contributions at a moment: the parts (embeddings, every head, every MLP, through the final norm frozen at
its actual scale) add up to the model's own logit, checked against a plain forward pass."""

from __future__ import annotations

import pytest

from tests.unit.tracing.inspection.interventions.conftest import MOMENT, last_log_probs, prefix_of
from tracing.inspection.interventions import contributions
from tracing.inspection.interventions.moment import layout_of

pytestmark = pytest.mark.slow


def plain_logits(loaded, trace, moment=MOMENT):
    import torch

    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([prefix_of(trace, moment)]), use_cache=False)
    return out.logits[0, -1].double()


def test_the_parts_add_up_to_the_models_logit(model_and_trace):
    loaded, trace = model_and_trace
    result = contributions(loaded, trace, MOMENT)
    logit = float(plain_logits(loaded, trace)[trace.moments[MOMENT].token_id])
    assert abs(result.total - logit) <= 1e-4 * abs(logit)
    assert abs(result.logit - logit) <= 1e-4 * abs(logit)
    layout = layout_of(loaded)
    assert result.heads.shape == (layout.num_layers, layout.num_heads) and result.mlps.shape == (layout.num_layers,)
    assert (result.heads != 0).mean() > 0.9  # every head wrote something: no part silently left out


def test_against_a_runner_up_the_parts_add_up_to_the_logit_difference(model_and_trace):
    loaded, trace = model_and_trace
    moment = trace.moments[MOMENT]
    runner_up = int(next(i for i in moment.top_ids if int(i) != moment.token_id))
    result = contributions(loaded, trace, MOMENT, contrast_id=runner_up)
    logits = plain_logits(loaded, trace)
    difference = float(logits[moment.token_id] - logits[runner_up])
    assert abs(result.total - difference) <= 1e-4 * max(abs(difference), 1.0)
    assert result.contrast_id == runner_up and result.contrast_token


def test_the_logit_is_the_moments_own(smollm, short_trace):
    result = contributions(smollm, short_trace, MOMENT)
    log_p = float(last_log_probs(smollm.model, prefix_of(short_trace))[result.target_id])
    assert log_p == pytest.approx(float(__import__("math").log(short_trace.moments[MOMENT].prob)), abs=1e-4)
    assert result.ranked(3)[0][1] == max(result.ranked(400), key=lambda item: abs(item[1]))[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"moment_index": 99}, "moment 99 is not in this trace"),
        ({"contrast_id": 10**7}, "outside the vocabulary"),
    ],
)
def test_bad_requests_are_named(smollm, short_trace, kwargs, message):
    kwargs = {"moment_index": MOMENT} | kwargs
    with pytest.raises(ValueError, match=message):
        contributions(smollm, short_trace, **kwargs)


def test_the_runner_up_must_be_another_token(smollm, short_trace):
    with pytest.raises(ValueError, match="another token"):
        contributions(smollm, short_trace, MOMENT, contrast_id=short_trace.moments[MOMENT].token_id)


def test_another_models_trace_is_refused(adapter, short_trace):
    with pytest.raises(ValueError, match="made by 'smollm2-135m-instruct'"):
        contributions(adapter, short_trace, MOMENT)


def test_a_model_without_a_known_layout_says_why(minilm):
    assert minilm.layout is None
    with pytest.raises(ValueError, match="'bert' has no family description"):
        layout_of(minilm)
