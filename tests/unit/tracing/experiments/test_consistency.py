"""Consistency of reasoning: answers found in crafted texts, majority and agreement, the moment where
sampled paths part, and a seeded run that reproduces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.unit.tracing.core.test_trace import make_trace
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.experiments.consistency import (
    consistency,
    extract_answer,
    load_consistency,
    majority_answer,
    paths_divergence,
)

SETTINGS = DecodingSettings(max_new_tokens=6, do_sample=True, temperature=1.0, seed=11, stop_at_eos=False)
PROMPT = "What is 47 + 38?"


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("47 + 38 = 85.\nAnswer: 85", None, "85"),
        ("Answer: 12 ... wait, no. Answer: -3", None, "-3"),
        ("Answer:85 and more text after", None, "85"),
        ("The sum is eighty-five.", None, None),
        ("Answer: eighty", None, None),
        ("So the capital is Canberra.", r"capital is (\w+)", "Canberra"),
        ("x = 4, then x = 9", r"x = \d", "x = 9"),  # no group: the whole last match
    ],
)
def test_extract_answer(text, pattern, expected):
    assert (extract_answer(text) if pattern is None else extract_answer(text, pattern)) == expected


def test_a_bad_pattern_is_a_clear_error():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        extract_answer("Answer: 1", r"Answer: (\d+")


@pytest.mark.parametrize(
    ("answers", "majority", "agreement"),
    [(["85", "85", "84", None], "85", 0.5), (["1", "2"], "1", 0.5), ([None, None], None, 0.0), (["7"] * 3, "7", 1.0)],
)
def test_majority_and_agreement(answers, majority, agreement):
    assert majority_answer(answers) == (majority, agreement)


def paths_with_tokens(*sequences: list[int]):
    paths = []
    for tokens in sequences:
        trace = make_trace(moments=len(tokens))
        for moment, token in zip(trace.moments, tokens, strict=True):
            moment.token_id = token
        paths.append(trace)
    return paths


def test_divergence_of_crafted_paths():
    assert paths_divergence(paths_with_tokens([1, 2, 3], [1, 2, 3])) is None
    paths = paths_with_tokens([1, 2, 3, 4], [1, 2, 5, 4], [1, 9, 3, 4])
    found = paths_divergence(paths)
    assert found.moment == 1
    assert [c.token_id for c in found.choices] == [2, 2, 9]
    assert found.top_ids == [int(i) for i in paths[0].moments[1].top_ids]
    ended = paths_divergence(paths_with_tokens([1, 2], [1, 2, 3]))
    assert ended.moment == 2 and ended.choices[0].token is None and ended.choices[1].token_id == 3


@pytest.fixture(scope="module")
def result(smollm):
    return consistency(smollm, PROMPT, 3, SETTINGS, answer_pattern=r"(\d+)")


@pytest.mark.slow
def test_seeded_paths_reproduce(smollm, result):
    assert result.seeds == [11, 12, 13]
    again = trace_generation(smollm, PROMPT, dataclasses.replace(SETTINGS, seed=12))
    assert again.generated_ids == result.paths[1].generated_ids
    # the paths are decoded in one batch, the check alone: equal to float rounding (batching's bound)
    assert [p.prob for p in result.paths[1].moments] == pytest.approx([m.prob for m in again.moments], abs=1e-4)
    assert result.answers == [extract_answer(p.text, r"(\d+)") for p in result.paths]
    assert (result.majority, result.agreement) == majority_answer(result.answers)


@pytest.mark.slow
def test_divergence_moment_shares_one_distribution(result):
    found = result.divergence
    sequences = [p.generated_ids for p in result.paths]
    if found is None:
        assert all(s == sequences[0] for s in sequences)
        return
    d = found.moment
    assert all(s[:d] == sequences[0][:d] for s in sequences)
    assert len({s[d] for s in sequences}) > 1
    for path, choice in zip(result.paths, found.choices, strict=True):
        assert choice.token_id == path.moments[d].token_id and choice.prob == path.moments[d].prob
        # 1e-5: the paths are decoded as rows of one batch, which differ by float rounding (model_zoo.step_scheduler)
        np.testing.assert_allclose(path.moments[d].top_probs, found.top_probs, atol=1e-5)


@pytest.mark.slow
def test_consistency_round_trips(tmp_path, result):
    loaded = load_consistency(result.save(tmp_path / "c.zip"))
    assert loaded.paths == result.paths and loaded.answers == result.answers
    assert loaded.divergence == result.divergence and loaded.seeds == result.seeds


@pytest.mark.parametrize(
    ("n", "settings", "message"),
    [(1, SETTINGS, "from 2 to"), (3, DecodingSettings(max_new_tokens=4), "needs sampling")],
)
def test_bad_requests_are_refused(smollm, n, settings, message):
    with pytest.raises(ValueError, match=message):
        consistency(smollm, PROMPT, n, settings)
