"""Attention knockout: the moment's position blind to picked tokens equals the same run with those keys
masked by an explicit 4-D attention mask, and its attention row gives them nothing."""

from __future__ import annotations

import pytest
import torch

from tests.unit.tracing.inspection.interventions.conftest import MOMENT, last_log_probs, prefix_of
from tracing.inspection.interventions import Knockout, continue_under, intervene

pytestmark = pytest.mark.slow
KEYS = (2, 3, 5)


def masked_log_probs(loaded, prefix, keys) -> torch.Tensor:
    """One plain forward whose causal 4-D mask also hides ``keys`` from the last position."""
    n = len(prefix)
    mask = torch.full((n, n), torch.finfo(torch.float32).min).triu(1)
    mask[-1, list(keys)] = torch.finfo(torch.float32).min
    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([prefix]), attention_mask=mask[None, None], use_cache=False)
    return out.logits[0, -1].float().log_softmax(-1)


def test_a_knockout_equals_the_run_with_those_keys_masked(model_and_trace):
    loaded, trace = model_and_trace
    result = intervene(loaded, trace, MOMENT, Knockout(KEYS))
    reference = masked_log_probs(loaded, prefix_of(trace), KEYS)
    assert result.log_prob == pytest.approx(float(reference[result.target_id]), abs=1e-5)
    assert list(result.top_ids) == torch.topk(reference, len(result.top_ids)).indices.tolist()
    clean = last_log_probs(loaded.model, prefix_of(trace))
    assert float((reference - clean).abs().max()) > 1e-2  # the knockout changed the distribution


def test_a_knockout_in_some_layers_changes_less_than_in_all(smollm, short_trace):
    everywhere = intervene(smollm, short_trace, MOMENT, Knockout(KEYS))
    some = intervene(smollm, short_trace, MOMENT, Knockout(KEYS, layers=(0,)))
    assert some.log_prob != pytest.approx(everywhere.log_prob, abs=1e-6)
    assert "layers 0" in some.label and "every layer" in everywhere.label


def test_decoding_on_under_a_knockout_never_attends_to_those_keys(smollm, short_trace):
    child = continue_under(smollm, short_trace, MOMENT, Knockout(KEYS))
    for moment in child.moments[MOMENT:]:
        assert float(abs(moment.attention[:, :, list(KEYS)]).max()) == 0.0
        assert float(moment.attention[:, :, 0].max()) > 0
    assert child.moments[MOMENT - 1].attention[:, :, list(KEYS)].max() > 0  # before the moment: untouched


@pytest.mark.parametrize(
    ("keys", "layers", "message"),
    [
        ((999,), None, "position 999 is not before the moment"),
        ((), None, "at least one token"),
        ((1,), (77,), "layer 77 is not a layer"),
    ],
)
def test_bad_knockouts_are_named(smollm, short_trace, keys, layers, message):
    with pytest.raises(ValueError, match=message):
        intervene(smollm, short_trace, MOMENT, Knockout(keys, layers))


def test_a_knockout_must_leave_something_to_attend_to(smollm, short_trace):
    every = tuple(range(len(prefix_of(short_trace))))
    with pytest.raises(ValueError, match="at least one token to attend to"):
        intervene(smollm, short_trace, MOMENT, Knockout(every))
