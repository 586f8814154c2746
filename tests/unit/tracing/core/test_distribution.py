"""One moment's numbers from one position's logits: probability, rank, entropy, top-k, eligibility, for a
token the decoder chose and for a forced one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tracing.core.distribution import describe_step
from tracing.core.sampling import choose, forced_choice, make_generator
from tracing.core.trace import DecodingSettings


def chosen_statistics(logits, settings, generator):
    return describe_step(logits, settings, choose(logits, settings, generator))


def test_greedy_statistics_match_a_direct_computation():
    logits = torch.randn(300, generator=torch.Generator().manual_seed(0)) * 2
    stats = chosen_statistics(logits, DecodingSettings(record_top_k=5), None)
    probs = torch.softmax(logits.double(), -1)
    assert stats.token_id == int(logits.argmax()) and stats.rank == 1 and stats.eligible_count == 1
    assert stats.prob == pytest.approx(float(probs.max()), abs=1e-6)
    assert stats.entropy == pytest.approx(float(-(probs * probs.log()).sum()), abs=1e-5)
    np.testing.assert_allclose(stats.top_probs, torch.topk(probs, 5).values.numpy(), atol=1e-6)
    assert stats.eligible_mask.tolist() == [True, False, False, False, False]


def test_sampled_statistics_rank_the_chosen_token():
    logits = torch.randn(300, generator=torch.Generator().manual_seed(1))
    settings = DecodingSettings(do_sample=True, top_k=50, seed=3, record_top_k=10)
    generator, _ = make_generator(settings, torch.device("cpu"))
    stats = chosen_statistics(logits, settings, generator)
    assert stats.rank == int((logits > logits[stats.token_id]).sum()) + 1 <= 50
    assert stats.eligible_count == 50 and stats.eligible_mask.all()


def test_masked_tokens_do_not_turn_the_entropy_into_nan():
    logits = torch.tensor([2.0, 1.0, float("-inf"), 0.5])
    stats = chosen_statistics(logits, dataclasses.replace(DecodingSettings(), record_top_k=4), None)
    probs = torch.softmax(logits[[0, 1, 3]].double(), -1)
    assert stats.entropy == pytest.approx(float(-(probs * probs.log()).sum()), abs=1e-6)
    assert stats.top_probs[-1] == 0.0


def test_a_forced_token_gets_its_real_rank_and_the_greedy_eligibility():
    logits = torch.tensor([0.5, 3.0, 1.0, 2.0])
    settings = dataclasses.replace(DecodingSettings(), record_top_k=3)
    stats = describe_step(logits, settings, forced_choice(logits, settings, 2))
    probs = torch.softmax(logits.double(), -1)
    assert (stats.token_id, stats.rank, stats.eligible_count) == (2, 3, 1)
    assert stats.prob == pytest.approx(float(probs[2]), abs=1e-7)
    assert stats.eligible_mask.tolist() == [True, False, False]  # only the arg-max was eligible


def test_a_forced_token_under_sampling_counts_what_the_filters_leave():
    logits = torch.tensor([0.5, 3.0, 1.0, 2.0, -1.0])
    settings = DecodingSettings(do_sample=True, top_k=3, seed=0, record_top_k=5)
    stats = describe_step(logits, settings, forced_choice(logits, settings, 4))
    assert (stats.rank, stats.eligible_count) == (5, 3)
    assert stats.eligible_mask.tolist() == [True, True, True, False, False]
