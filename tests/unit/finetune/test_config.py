import dataclasses

import pytest

from finetune.config import PRESETS, TrainConfig, estimate, preset


def test_presets_and_round_trip(tmp_path):
    quick = preset("quick", train_file="x.jsonl", name="n")
    assert quick.problems() == [] and quick.name == "n"
    assert "two minutes" in PRESETS["quick"]["description"]
    assert TrainConfig.load(quick.save(tmp_path / "c.json")) == quick
    with pytest.raises(ValueError, match="unknown preset"):
        preset("fast")


def test_bad_settings_are_listed():
    problems = TrainConfig(train_file="x", lora_rank=0, learning_rate=2.0, max_steps=0, epochs=0).problems()
    assert any("lora_rank" in p for p in problems) and any("learning_rate" in p for p in problems)
    assert any("max_steps or epochs" in p for p in problems)
    with pytest.raises(ValueError, match="unknown settings: rank"):
        TrainConfig.from_dict({"rank": 3})


def test_steps_and_estimate():
    config = TrainConfig(train_file="x", max_steps=0, epochs=2, batch_size=8)
    assert config.total_steps(100) == 26
    guess = estimate(config, train_examples=100, mean_tokens=90, parameters=135_000_000, hidden=576, layers=30)
    assert guess.steps == 26 and guess.tokens == 26 * 8 * 90 and guess.seconds > 0 and guess.memory_bytes > 5e8
    assert "steps" in guess.describe()
    assert guess.job_seconds == pytest.approx(guess.seconds + 5.0)  # no evaluations asked for: load + training


SMOLLM = {"parameters": 135_000_000, "hidden": 576, "layers": 30}


def test_job_estimate_counts_evaluations_so_a_tiny_job_is_not_zero_seconds():
    tiny = TrainConfig(train_file="x", max_steps=2, batch_size=2, eval_every=20, sample_count=3, max_new_tokens=64)
    data = {"train_examples": 40, "mean_tokens": 70, "validation_examples": 4}
    guess = estimate(tiny, **data, **SMOLLM, heldout_examples=40)
    assert guess.seconds < 5 < 30 < guess.job_seconds  # two short steps, but two evaluations of 40 answers
    assert "whole job" in guess.describe() and "0 s" not in guess.describe()
    clipped = estimate(tiny, **data, **SMOLLM, heldout_examples=80)
    assert clipped.job_seconds == guess.job_seconds  # the job evaluates test_limit (40) held-out examples at most
    bigger = estimate(dataclasses.replace(tiny, test_limit=80), **data, **SMOLLM, heldout_examples=80)
    assert bigger.job_seconds > guess.job_seconds  # more held-out answers to generate
    classifier = estimate(
        TrainConfig(train_file="x", task="classification", max_steps=2, batch_size=2),
        **data,
        parameters=22_000_000,
        hidden=384,
        layers=6,
        heldout_examples=40,
    )
    assert classifier.job_seconds < guess.job_seconds  # nothing to generate


def test_an_unknown_method_and_impossible_adalora_ranks_are_named():
    assert preset("quick", train_file="x.jsonl", method="dora").problems() == [
        "method 'dora' is not one of 'lora', 'adalora'"
    ]
    ada = preset("quick", train_file="x.jsonl", method="adalora", adalora_init_r=4, adalora_target_r=8)
    assert ada.problems() == ["AdaLoRA needs 1 <= target rank <= initial rank"]
