"""MLflow beside TensorBoard, when installed and asked for: a job's settings, losses and probe figures land in
one MLflow run, which a resumed job continues; asking for a tracker that is not installed names the package."""

from __future__ import annotations

import importlib.util

import pytest

from finetune.config import TrainConfig
from finetune.tracking import tracker_problems
from finetune.train import StopRequested, train
from tests.unit.finetune.test_train_job import tiny_config, workdir  # noqa: F401 (a fixture)


def test_an_unknown_or_missing_tracker_is_named_with_what_to_install(monkeypatch):
    assert tracker_problems(["neptune"]) == ["tracker 'neptune' is not one of 'mlflow'"]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    problem = "mlflow is not installed here: `pip install mlflow-skinny` (or leave mlflow off)"
    assert tracker_problems(["mlflow"]) == [problem]
    assert problem in TrainConfig(train_file="x.jsonl", track_with=["mlflow"]).problems()


@pytest.mark.slow
def test_a_stopped_and_resumed_job_logs_one_mlflow_run(workdir):  # noqa: F811
    from mlflow import MlflowClient

    uri = (workdir / "mlruns").as_uri()
    config = tiny_config(
        workdir, max_steps=6, checkpoint_every=2, checkpoint_dir=str(workdir / "ck"), probe_count=1, test_file="",
        test_limit=0, eval_every=100, track_with=["mlflow"], mlflow_uri=uri, learning_rate=3e-3,
    )  # fmt: skip
    assert config.problems() == []
    losses: dict[int, float] = {}
    with pytest.raises(StopRequested):
        train(config, stop_flag=lambda: len(losses) >= 3, on_step=lambda s, m: losses.update({s: m["loss"]}))
    config.resume = True
    train(config, on_step=lambda s, m: losses.update({s: m["loss"]}))

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("momentscope").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0].info.run_id
    logged = {m.step: m.value for m in client.get_metric_history(run, "train/loss")}
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]
    assert [logged[s] for s in sorted(logged)] == pytest.approx([losses[s] for s in sorted(losses)], rel=1e-6)
    probe_steps = sorted(m.step for m in client.get_metric_history(run, "probe/0/mean_reference_probability"))
    assert probe_steps == [0, 2, 3, 4, 6]
    assert runs[0].data.params["learning_rate"] == "0.003" and runs[0].data.params["method"] == "lora"
