"""Decoding moment by moment, checked against independent references: one teacher-forced forward pass
over the whole sequence, and transformers' own ``generate``."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from tests.conftest import CJK_ANSWER, CJK_PROMPT
from tests.unit.tracing.conftest import SAMPLED_SETTINGS, teacher_forced
from tracing.core.decode import eos_ids, render_prompt, trace_generation
from tracing.core.sampling import filtered_logits
from tracing.core.tokens import readable_token
from tracing.core.trace import DecodingSettings

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("trace_name", ["greedy_trace", "sampled_trace"])
def test_moment_statistics_equal_teacher_forced_pass(request, smollm, trace_name):
    trace = request.getfixturevalue(trace_name)
    reference = teacher_forced(smollm, trace)
    log_probs = torch.log_softmax(reference.logits, dim=-1)
    probs = log_probs.exp()
    for moment, lp, p in zip(trace.moments, log_probs, probs, strict=True):
        k = len(moment.top_ids)
        expected_top = torch.topk(p, k)
        assert moment.prob == pytest.approx(float(p[moment.token_id]), abs=1e-4)
        assert moment.entropy == pytest.approx(float(-(p * lp).sum()), abs=1e-4)
        np.testing.assert_allclose(moment.top_probs, expected_top.values.numpy(), atol=1e-4)
        assert moment.rank == int((p > p[moment.token_id]).sum()) + 1
        assert np.all(np.diff(moment.top_probs) <= 0), "top_probs must be descending"
        assert moment.top_ids.dtype == np.int64 and moment.top_probs.dtype == np.float32


@pytest.mark.parametrize("trace_name", ["greedy_trace", "sampled_trace"])
def test_attention_rows_equal_teacher_forced_attentions(request, smollm, trace_name):
    trace = request.getfixturevalue(trace_name)
    reference = teacher_forced(smollm, trace)
    layers, heads = smollm.num_layers, smollm.num_heads
    for moment in trace.moments:
        keys = trace.prompt_len + moment.index
        assert moment.attention.dtype == np.float16
        assert moment.attention.shape == (layers, heads, keys)
        query = keys - 1  # the position whose output predicts this moment
        expected = torch.stack([a[:, query, :keys] for a in reference.attentions]).numpy()
        np.testing.assert_allclose(moment.attention.astype(np.float32), expected, atol=1e-3)
        np.testing.assert_allclose(moment.attention.astype(np.float32).sum(-1), 1.0, atol=1e-2)


def test_greedy_tokens_equal_generate(smollm, greedy_trace):
    ids = torch.tensor([greedy_trace.prompt_ids])
    with torch.inference_mode():
        out = smollm.model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=len(greedy_trace.moments), do_sample=False
        )
    assert out[0, greedy_trace.prompt_len :].tolist() == greedy_trace.generated_ids
    assert all(m.rank == 1 and m.eligible_count == 1 for m in greedy_trace.moments)
    assert all(m.eligible_mask.tolist() == [True] + [False] * (len(m.top_ids) - 1) for m in greedy_trace.moments)


def test_trace_fields_describe_the_generation(smollm, greedy_trace):
    rendered, ids = render_prompt(smollm, greedy_trace.prompt)
    assert greedy_trace.rendered_prompt == rendered and "<|im_start|>assistant" in rendered
    assert greedy_trace.prompt_ids == ids
    assert greedy_trace.all_ids == ids + greedy_trace.generated_ids
    assert greedy_trace.model_id == "smollm2-135m-instruct" and greedy_trace.adapter is None
    assert [m.index for m in greedy_trace.moments] == list(range(len(greedy_trace.moments)))
    assert greedy_trace.text == smollm.tokenizer.decode(greedy_trace.generated_ids, skip_special_tokens=True)
    assert greedy_trace.prompt_tokens == [readable_token(smollm.tokenizer, i) for i in ids]
    assert all(m.top_tokens == [readable_token(smollm.tokenizer, i) for i in m.top_ids] for m in greedy_trace.moments)


def test_seeded_sampling_reproduces_and_another_seed_differs(smollm, sampled_trace):
    again = trace_generation(smollm, sampled_trace.prompt, SAMPLED_SETTINGS)
    assert again.generated_ids == sampled_trace.generated_ids
    for a, b in zip(again.moments, sampled_trace.moments, strict=True):  # bit for bit, kept prompt or not
        np.testing.assert_array_equal(a.top_probs, b.top_probs)
        np.testing.assert_array_equal(a.attention, b.attention)
    other = trace_generation(smollm, sampled_trace.prompt, DecodingSettings(**{**vars(SAMPLED_SETTINGS), "seed": 8}))
    assert other.generated_ids != sampled_trace.generated_ids


def test_eligibility_matches_direct_top_k_top_p(smollm, sampled_trace):
    reference = teacher_forced(smollm, sampled_trace)
    settings = sampled_trace.settings
    for moment, logits in zip(sampled_trace.moments, reference.logits, strict=True):
        # Direct computation: sort once, keep the top_k, then the smallest prefix reaching top_p.
        probs_sorted, order = torch.sort(torch.softmax(logits / settings.temperature, -1), descending=True)
        kept = order[: settings.top_k]
        renormalised = probs_sorted[: settings.top_k] / probs_sorted[: settings.top_k].sum()
        before = torch.cumsum(renormalised, 0) - renormalised
        eligible = set(kept[before < settings.top_p].tolist())
        assert moment.eligible_count == len(eligible)
        assert moment.token_id in eligible
        assert moment.eligible_mask.tolist() == [int(i) in eligible for i in moment.top_ids]


def test_sampled_tokens_come_from_the_filtered_distribution(smollm, sampled_trace):
    reference = teacher_forced(smollm, sampled_trace)
    for moment, logits in zip(sampled_trace.moments, reference.logits, strict=True):
        assert torch.isfinite(filtered_logits(logits, sampled_trace.settings)[moment.token_id])


def test_on_moment_reports_each_moment_and_should_stop_ends_early(smollm):
    seen = []
    trace = trace_generation(
        smollm,
        "Count to ten.",
        DecodingSettings(max_new_tokens=10),
        on_moment=seen.append,
        should_stop=lambda: len(seen) >= 3,
    )
    assert trace.stop_reason == "stopped"
    assert seen == trace.moments and len(seen) == 3


def test_stops_at_eos_and_includes_the_eos_moment(smollm):
    trace = trace_generation(smollm, "What is the capital of France?", DecodingSettings(max_new_tokens=16))
    assert trace.stop_reason == "eos"
    assert trace.moments[-1].token_id in eos_ids(smollm)
    assert trace.moments[-1].token == "⟨|im_end|⟩"
    assert "im_end" not in trace.text


def test_ignoring_eos_makes_exactly_max_new_tokens(smollm):
    trace = trace_generation(smollm, "Reply with one word: yes.", DecodingSettings(max_new_tokens=6, stop_at_eos=False))
    assert len(trace.moments) == 6 and trace.stop_reason == "max_new_tokens"


def test_plain_prompt_without_chat_template(smollm):
    trace = trace_generation(smollm, "The sky is", DecodingSettings(max_new_tokens=2, use_chat_template=False))
    assert trace.rendered_prompt == "The sky is"
    assert trace.prompt_ids == smollm.tokenizer("The sky is")["input_ids"]


@pytest.mark.parametrize(
    ("prompt", "settings", "message"),
    [
        ("", DecodingSettings(), "prompt is empty"),
        ("   \n", DecodingSettings(), "prompt is empty"),
        ("hi", DecodingSettings(max_new_tokens=0), "max_new_tokens"),
        ("hi", DecodingSettings(temperature=0), "temperature"),
        ("word " * 9000, DecodingSettings(max_new_tokens=4), "reads at most 8192 tokens"),
        ("word " * 8000, DecodingSettings(max_new_tokens=1000), "context of 8192 tokens"),
    ],
)
def test_bad_input_raises_a_clear_value_error(smollm, prompt, settings, message):
    with pytest.raises(ValueError, match=message):
        trace_generation(smollm, prompt, settings)


def test_two_sessions_can_trace_the_same_model_at_once(smollm, greedy_trace):
    settings = DecodingSettings(max_new_tokens=6)
    alone = trace_generation(smollm, "What is two plus two?", settings)
    results = {}

    def work(name, prompt):
        results[name] = trace_generation(smollm, prompt, settings)

    threads = [
        threading.Thread(target=work, args=("a", greedy_trace.prompt)),
        threading.Thread(target=work, args=("b", alone.prompt)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["a"].generated_ids == greedy_trace.generated_ids[:6]
    assert results["b"].generated_ids == alone.generated_ids
    np.testing.assert_allclose(results["b"].moments[-1].attention, alone.moments[-1].attention, atol=1e-3)


def test_a_chinese_trace_reads_as_characters(cjk_trace):
    pieces = cjk_trace.token_pieces()
    prompt, generated = pieces[: cjk_trace.prompt_len], pieces[cjk_trace.prompt_len :]
    assert CJK_PROMPT in "".join(p.joined for p in prompt)
    assert "".join(p.joined for p in generated) == CJK_ANSWER == cjk_trace.text
    assert not any("‹" in p.text or "\\x" in p.text for p in pieces)
    # The stored tokens stay one per id (fragments where a token holds part of a character)...
    assert any("‹" in m.token for m in cjk_trace.moments)
    # ...and each moment's chosen token, among its top-k, reads as the character it is part of.
    for index, moment in enumerate(cjk_trace.moments):
        chosen = cjk_trace.candidate_pieces(index, [moment.token])[0]
        assert chosen == generated[index]
