"""Comparing two models moment by moment: KL values and the follower's trace against direct forward passes,
a model against itself, and a base against the same base with an adapter (the base side stays the base)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tests.conftest import OFFLINE_CHAT_MODEL
from tests.tiny_adapter import TINY_ADAPTER, make_tiny_adapter, temp_home
from tracing.core.trace import DecodingSettings
from tracing.experiments.compare import check_comparable, compare_traces, moment_differences
from tracing.experiments.comparison import Comparison, first_divergence, load_comparison

PROMPT = "What is 12 + 7?"
SETTINGS = DecodingSettings(max_new_tokens=6, stop_at_eos=False)


def prompt_logits(loaded) -> torch.Tensor:
    ids = torch.tensor([[1, 504, 3458, 314, 260, 2090, 30]])
    with torch.inference_mode():
        return loaded.model(input_ids=ids).logits[0].float()


def direct_logits(loaded, ids: list[int], prompt_len: int) -> torch.Tensor:
    """Plain full forward pass; row i predicts generated token i."""
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
    return logits[prompt_len - 1 : len(ids) - 1]


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> np.ndarray:
    lp, lq = torch.log_softmax(p_logits.double(), -1), torch.log_softmax(q_logits.double(), -1)
    return (lp.exp() * (lp - lq)).sum(-1).numpy()


@pytest.fixture(scope="module")
def base_before(smollm):
    return prompt_logits(smollm)


@pytest.fixture(scope="module")
def adapter(smollm, base_before, tmp_path_factory):
    from model_zoo import load_model

    with pytest.MonkeyPatch.context() as patch:
        home = temp_home(tmp_path_factory.mktemp("compare"))
        patch.setenv("MOMENTSCOPE_HOME", str(home))
        yield load_model(make_tiny_adapter(home), device="cpu")


@pytest.fixture(scope="module")
def comparison(smollm, adapter) -> Comparison:
    return compare_traces(smollm, adapter, PROMPT, SETTINGS, own_path=True)


@pytest.mark.slow
def test_kl_matches_direct_forward_passes(smollm, adapter, comparison):
    trace = comparison.trace_a
    base = direct_logits(smollm, trace.all_ids, trace.prompt_len)
    tuned = direct_logits(adapter, trace.all_ids, trace.prompt_len)
    np.testing.assert_allclose(comparison.kl_a_b, kl(base, tuned), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(comparison.kl_b_a, kl(tuned, base), rtol=1e-4, atol=1e-5)
    assert all(m.greedy_a == int(base[m.index].argmax()) for m in comparison.moments)
    assert all(m.greedy_b == int(tuned[m.index].argmax()) for m in comparison.moments)
    expected_split = next((i for i in range(len(base)) if base[i].argmax() != tuned[i].argmax()), None)
    assert comparison.first_greedy_divergence == expected_split


@pytest.mark.slow
def test_follower_trace_is_a_teacher_forced_pass(adapter, comparison):
    lead, follower = comparison.trace_a, comparison.trace_b
    assert follower.generated_ids == lead.generated_ids and follower.prompt_ids == lead.prompt_ids
    assert (follower.model_id, follower.adapter) == (OFFLINE_CHAT_MODEL, TINY_ADAPTER)
    ids = torch.tensor([lead.all_ids])
    with torch.inference_mode():
        out = adapter.model(input_ids=ids, use_cache=False, output_attentions=True)
    probs = torch.softmax(out.logits[0, lead.prompt_len - 1 : -1].double(), -1)
    for i, moment in enumerate(follower.moments):
        assert moment.prob == pytest.approx(float(probs[i, moment.token_id]), rel=1e-4, abs=1e-6)
        assert moment.rank == int((probs[i] > probs[i, moment.token_id]).sum()) + 1
        np.testing.assert_allclose(
            moment.top_probs, probs[i].topk(len(moment.top_ids)).values.numpy(), rtol=1e-4, atol=1e-6
        )
        query = lead.prompt_len - 1 + i
        expected = torch.stack([a[0, :, query, : query + 1] for a in out.attentions]).numpy()
        assert moment.attention.shape == expected.shape == lead.moments[i].attention.shape
        np.testing.assert_allclose(moment.attention.astype(np.float32), expected, atol=2e-3)


@pytest.mark.slow
def test_base_and_adapter_differ_and_the_base_stays_the_base(smollm, adapter, comparison, base_before):
    assert all(m.kl_a_b > 1e-6 and m.kl_b_a > 1e-6 for m in comparison.moments)
    assert comparison.trace_a.adapter is None and comparison.trace_b.adapter == TINY_ADAPTER
    assert adapter.model.get_base_model() is not smollm.model
    assert not any("lora" in name for name, _ in smollm.model.named_modules())
    assert torch.equal(prompt_logits(smollm), base_before)
    assert not torch.allclose(prompt_logits(adapter), base_before, atol=1e-3)


@pytest.mark.slow
def test_own_paths_part_where_the_generations_differ(comparison):
    own, lead = comparison.own_path.generated_ids, comparison.trace_a.generated_ids
    split = comparison.first_path_divergence
    assert split == first_divergence(lead, own)
    if split is not None:
        assert lead[:split] == own[:split] and lead[split] != own[split]


@pytest.mark.slow
def test_comparison_round_trips(tmp_path, comparison):
    loaded = load_comparison(comparison.save(tmp_path / "c.zip"))
    assert loaded.trace_a == comparison.trace_a and loaded.trace_b == comparison.trace_b
    assert loaded.own_path == comparison.own_path
    assert loaded.moments == comparison.moments
    assert (loaded.lead, loaded.first_greedy_divergence) == ("a", comparison.first_greedy_divergence)


@pytest.mark.slow
def test_a_model_against_itself_has_zero_kl_and_no_divergence(smollm):
    comparison = compare_traces(smollm, smollm, PROMPT, dataclasses.replace(SETTINGS, max_new_tokens=4), lead="b")
    assert comparison.follower == "a"
    assert np.all(comparison.kl_a_b < 1e-9) and np.all(comparison.kl_b_a < 1e-9)
    assert comparison.first_greedy_divergence is None
    assert all(not m.only_in_a and not m.only_in_b for m in comparison.moments)
    for a, b in zip(comparison.trace_a.moments, comparison.trace_b.moments, strict=True):
        assert a.token_id == b.token_id and a.prob == pytest.approx(b.prob, abs=1e-5)


def test_two_names_for_one_model_object_are_refused(smollm):
    other = dataclasses.replace(smollm, entry=dataclasses.replace(smollm.entry, id="someone+adapter"))
    with pytest.raises(ValueError, match="share one model object"):
        check_comparable(smollm, other)


def test_unknown_lead_is_refused(smollm):
    with pytest.raises(ValueError, match="lead must be"):
        compare_traces(smollm, smollm, PROMPT, SETTINGS, lead="c")


def test_moment_differences_on_known_distributions():
    p = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]).log()
    q = torch.tensor([[0.25, 0.5, 0.25], [0.1, 0.2, 0.7]]).log()
    first, second = moment_differences(p, q, top_k=1)
    assert first.kl_a_b == pytest.approx(0.25 * np.log(2), abs=1e-7)  # 0.5 ln 2 + 0.25 ln 0.5
    assert first.kl_b_a == pytest.approx(0.25 * np.log(2), abs=1e-7)
    assert first.greedy_differs and (first.only_in_a, first.only_in_b) == ([0], [1])
    assert second.kl_a_b == pytest.approx(0.0, abs=1e-12) and not second.greedy_differs


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([1, 2, 3], [1, 2, 3], None), ([1, 2, 3], [1, 5, 3], 1), ([1, 2], [1, 2, 3], 2), ([], [4], 0)],
)
def test_first_divergence(a, b, expected):
    assert first_divergence(a, b) == expected
