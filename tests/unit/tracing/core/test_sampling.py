"""Token choice: the filters match transformers' own warpers, and a seeded generator reproduces."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from tracing.core.sampling import choose, filtered_logits, make_generator
from tracing.core.trace import DecodingSettings

SAMPLING = DecodingSettings(do_sample=True)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"), [(1.0, 0, 1.0), (0.7, 10, 1.0), (1.3, 0, 0.8), (0.9, 50, 0.95), (1.0, 1, 0.5)]
)
def test_filters_match_transformers_warpers(temperature, top_k, top_p):
    logits = torch.randn(1000, generator=torch.Generator().manual_seed(0)) * 3
    settings = dataclasses.replace(SAMPLING, temperature=temperature, top_k=top_k, top_p=top_p)
    expected = logits[None].clone()
    expected = TemperatureLogitsWarper(temperature)(None, expected)
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1:
        expected = TopPLogitsWarper(top_p)(None, expected)
    ours = filtered_logits(logits, settings)
    assert torch.equal(torch.isfinite(ours), torch.isfinite(expected[0]))
    torch.testing.assert_close(ours[torch.isfinite(ours)], expected[0][torch.isfinite(expected[0])])


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    kept = torch.isfinite(filtered_logits(logits, dataclasses.replace(SAMPLING, top_p=0.8)))
    assert kept.tolist() == [True, True, False, False]
    kept = torch.isfinite(filtered_logits(logits, dataclasses.replace(SAMPLING, top_p=0.81)))
    assert kept.tolist() == [True, True, True, False]
    kept = torch.isfinite(filtered_logits(logits, dataclasses.replace(SAMPLING, top_p=0.01)))
    assert kept.tolist() == [True, False, False, False]


def test_choice_is_greedy_or_from_the_eligible_set():
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0])
    greedy = choose(logits, DecodingSettings(), None)
    assert int(greedy.token_id) == 1 and greedy.eligible_count == 1 and greedy.eligible is None
    settings = dataclasses.replace(SAMPLING, top_k=2, seed=0)
    generator, seed = make_generator(settings, torch.device("cpu"))
    assert seed == 0
    picks = {int(choose(logits, settings, generator).token_id) for _ in range(50)}
    assert picks == {1, 2}
    assert int(choose(logits, settings, generator).eligible_count) == 2


def test_same_seed_same_choices_and_unseeded_sampling_records_its_seed():
    logits = torch.randn(500, generator=torch.Generator().manual_seed(1))
    settings = dataclasses.replace(SAMPLING, seed=42)
    runs = []
    for _ in range(2):
        generator, _ = make_generator(settings, torch.device("cpu"))
        runs.append([int(choose(logits, settings, generator).token_id) for _ in range(20)])
    assert runs[0] == runs[1]
    generator, seed = make_generator(dataclasses.replace(SAMPLING, seed=None), torch.device("cpu"))
    assert generator is not None and isinstance(seed, int)
    assert make_generator(DecodingSettings(), torch.device("cpu")) == (None, None)
