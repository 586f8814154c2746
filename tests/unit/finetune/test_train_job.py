"""A real training job on a tiny slice, end to end through its own process and the job store; then the adapter
loads back from the zoo and says what the tuned model said; stop and kill behave."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from finetune.config import TrainConfig
from finetune.launcher import launch
from finetune.sample_data import addition_splits, write_jsonl
from finetune.training_store import TrainingJobStore
from jobs.launcher import stop

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A data home of its own that shares the converted offline model (no second GGUF conversion)."""
    import os
    from pathlib import Path

    shared = Path(os.environ["MOMENTSCOPE_HOME"]) / "converted"
    shared.mkdir(parents=True, exist_ok=True)
    (tmp_path / "converted").symlink_to(shared, target_is_directory=True)
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    splits = addition_splits({"train": 16, "validation": 2, "test": 2})
    for name, rows in splits.items():
        write_jsonl(rows, tmp_path / f"{name}.jsonl")
    return tmp_path


def tiny_config(folder, **overrides) -> TrainConfig:
    settings = dict(
        train_file=str(folder / "train.jsonl"),
        validation_file=str(folder / "validation.jsonl"),
        test_file=str(folder / "test.jsonl"),
        max_steps=3,
        batch_size=2,
        max_length=64,
        lora_rank=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        eval_every=2,
        sample_count=1,
        max_new_tokens=8,
        test_limit=2,
        warmup_steps=0,
        name="tiny",
        device="cpu",
    )
    return TrainConfig(**(settings | overrides))


def wait_for(store: TrainingJobStore, job_id: int, done, timeout: float = 240.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = store.get(job_id)
        if done(job):
            return job
        time.sleep(0.5)
    raise AssertionError(
        f"job {job_id} still {store.get(job_id).status}; log:\n{Path(job.log_path).read_text()[-3000:]}"
    )


def test_tiny_job_end_to_end_and_adapter_loads_back(workdir):
    from finetune.evaluate import generate, mean_loss
    from model_zoo import load_catalog, load_model

    store = TrainingJobStore()
    job_id = launch(tiny_config(workdir), store)
    job = wait_for(store, job_id, lambda j: not j.active)
    assert job.status == "succeeded", job.error
    assert job.step == 3 and job.total_steps == 3 and job.tokens > 0 and job.train_seconds > 0
    metrics = store.metrics(job_id)
    assert [s for s, _ in metrics["loss"]] == [1, 2, 3] and [s for s, _ in metrics["val_loss"]] == [2, 3]
    assert {s["step"] for s in store.samples(job_id)} == {2, 3}
    evaluations = store.evaluations(job_id)
    assert set(evaluations) == {"base", "tuned"} and "exact_match" in evaluations["tuned"]
    assert job.result["tuned"]["loss"] == pytest.approx(evaluations["tuned"]["loss"])

    assert job.adapter_id in [e.id for e in load_catalog() if e.source == "adapter"]
    tuned = load_model(job.adapter_id, device="cpu")
    test = [{"prompt": e["prompt"], "response": e["reference"]} for e in evaluations["tuned"]["examples"]]
    assert generate(tuned.model, tuned.tokenizer, test, max_new_tokens=8) == [
        e["output"] for e in evaluations["tuned"]["examples"]
    ]
    loss = mean_loss(tuned.model, tuned.tokenizer, test, "causal-lm", max_length=64)
    assert loss == pytest.approx(evaluations["tuned"]["loss"], rel=1e-3)
    assert loss != pytest.approx(evaluations["base"]["loss"], rel=1e-4)  # the adapter changed the model


def test_stop_is_graceful_and_kill_marks_failed_with_log_tail(workdir):
    store = TrainingJobStore()
    long = tiny_config(workdir, max_steps=10_000, eval_every=10**6, test_file="", name="long")
    stopped = launch(long, store)
    killed = launch(tiny_config(workdir, max_steps=10_000, eval_every=10**6, test_file="", name="queued"), store)
    wait_for(store, stopped, lambda j: j.status == "running" and j.step >= 1)
    assert store.get(killed).status == "queued"  # one job per device; the second waits its turn
    stop(store, stopped, wait=True, grace_s=60)
    job = store.get(stopped)
    assert job.status == "stopped" and "stopped at step" in (job.error or "")
    wait_for(store, killed, lambda j: j.status == "running" and j.step >= 1)  # the queue moves on
    victim = store.get(killed)
    import os

    os.kill(victim.pid, signal.SIGKILL)
    job = wait_for(store, killed, lambda j: not j.active, timeout=30)
    assert job.status == "failed" and "the training process died" in job.error and "INFO" in job.error


def test_classification_with_the_encoder_in_process(workdir):
    from finetune.train import train
    from model_zoo import load_model

    rows = [
        {"text": f"{word} movie, truly {word}", "label": label}
        for word, label in [("great", "pos"), ("awful", "neg"), ("lovely", "pos"), ("boring", "neg")] * 4
    ]
    write_jsonl(rows, workdir / "reviews.jsonl")
    config = TrainConfig(
        train_file=str(workdir / "reviews.jsonl"),
        model="minilm-l6",
        task="classification",
        max_steps=2,
        batch_size=4,
        max_length=32,
        lora_rank=4,
        lora_alpha=8,
        target_modules=["query", "value"],
        validation_fraction=0.25,
        eval_every=2,
        device="cpu",
        name="reviews",
    )
    result = train(config)
    assert result["steps"] == 2 and set(result["base"]) >= {"loss", "accuracy"} and "accuracy" in result["tuned"]
    tuned = load_model(result["adapter_id"], device="cpu")  # the label names came with the adapter
    assert tuned.entry.kind == "encoder" and tuned.model.config.num_labels == 2
    assert sorted(tuned.model.config.id2label.values()) == ["neg", "pos"]
