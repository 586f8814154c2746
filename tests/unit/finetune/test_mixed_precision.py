"""Training in a bfloat16 autocast on the CPU: the training forward runs in bfloat16 (its first loss, before any
update, differs from float32's by bfloat16's rounding), while evaluations stay float32 (the base model's
held-out figures are the same to the bit). "auto" follows the CPU's native bfloat16 support."""

from __future__ import annotations

import pytest

import model_zoo.device
from finetune.config import BF16_SPEEDUP, TrainConfig, estimate
from finetune.train import train
from tests.unit.finetune.test_train_job import tiny_config, workdir  # noqa: F401 (a fixture)


@pytest.mark.slow
def test_the_training_forward_runs_in_bfloat16_and_evaluations_in_float32(workdir):  # noqa: F811
    results, first_losses = {}, {}
    for precision in ("no", "bf16"):
        losses = []
        config = tiny_config(workdir, name=precision, mixed_precision=precision, max_steps=2, sample_count=0)
        results[precision] = train(config, on_step=lambda step, metrics, losses=losses: losses.append(metrics["loss"]))
        first_losses[precision] = losses[0]
    base = {precision: {k: v for k, v in r["base"].items() if k != "seconds"} for precision, r in results.items()}
    assert base["bf16"] == base["no"]  # evaluated before training, in float32 both times
    assert first_losses["bf16"] != first_losses["no"]  # the same weights: only the precision differs
    assert first_losses["bf16"] == pytest.approx(first_losses["no"], rel=2e-2)


def test_auto_follows_the_cpu_and_leaves_accelerators_alone(monkeypatch):
    config = TrainConfig(train_file="x.jsonl", mixed_precision="auto")
    for native in (True, False):
        monkeypatch.setattr(model_zoo.device, "cpu_computes_bfloat16", lambda native=native: native)
        assert config.trains_in_bfloat16("cpu") is native
    assert not TrainConfig(train_file="x.jsonl", mixed_precision="bf16").trains_in_bfloat16("cuda")
    assert not TrainConfig(train_file="x.jsonl").trains_in_bfloat16("cpu")
    assert (
        "mixed_precision must be one of 'no', 'bf16', 'auto'"
        in TrainConfig(train_file="x.jsonl", mixed_precision="fp8").problems()
    )


def test_the_estimate_counts_bfloat16_training_faster(monkeypatch):
    monkeypatch.setattr(model_zoo.device, "cpu_computes_bfloat16", lambda: True)
    stats = dict(train_examples=400, mean_tokens=90, parameters=135_000_000, hidden=576, layers=30)
    stats |= dict(validation_examples=40, heldout_examples=40)
    plain = estimate(TrainConfig(train_file="x.jsonl", max_steps=48), **stats)
    fast = estimate(TrainConfig(train_file="x.jsonl", max_steps=48, mixed_precision="bf16"), **stats)
    assert fast.seconds == pytest.approx(plain.seconds / BF16_SPEEDUP, rel=1e-6) and BF16_SPEEDUP > 1
    # evaluations run in float32 either way: the job saves only what the training saves
    assert fast.job_seconds == pytest.approx(plain.job_seconds - plain.seconds + fast.seconds, rel=1e-6)
