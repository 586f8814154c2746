"""Resume and extend: a run stopped at a step and resumed from its checkpoint trains exactly what the
uninterrupted run trained (same losses after the resume point, to float noise), through the job store and
TensorBoard as well; AdaLoRA trains as a method beside LoRA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune.checkpoints import STATE_FILE, checkpoint_folder, checkpoint_steps
from finetune.train import StopRequested, train
from tests.unit.finetune.test_train_job import tiny_config, wait_for, workdir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


def test_a_resumed_run_continues_the_uninterrupted_one(workdir):  # noqa: F811
    common = dict(max_steps=6, checkpoint_every=2, test_file="", test_limit=0, probe_count=0, eval_every=100)
    whole: list[float] = []
    train(
        tiny_config(workdir, checkpoint_dir=str(workdir / "a"), **common), on_step=lambda s, m: whole.append(m["loss"])
    )

    first: list[float] = []
    cut = tiny_config(workdir, checkpoint_dir=str(workdir / "b"), **common)
    with pytest.raises(StopRequested, match="stopped at step 3 of 6"):
        train(cut, stop_flag=lambda: len(first) >= 3, on_step=lambda s, m: first.append(m["loss"]))
    assert checkpoint_steps(workdir / "b") == [0, 2, 3]  # the stop kept step 3, so nothing is lost
    assert [(checkpoint_folder(workdir / "b", s) / STATE_FILE).exists() for s in (0, 2, 3)] == [False, False, True]

    rest: dict[int, float] = {}
    cut.resume = True
    result = train(cut, on_step=lambda s, m: rest.update({s: m["loss"]}))
    assert result["resumed_from"] == 3 and result["steps"] == 6 and sorted(rest) == [4, 5, 6]
    assert first == pytest.approx(whole[:3], rel=1e-6)
    assert [rest[s] for s in (4, 5, 6)] == pytest.approx(whole[3:], rel=1e-5, abs=1e-6)
    assert len(set(whole)) == 6  # the losses move, so equal curves are not equal by accident


def test_stop_resume_and_extend_a_launched_job_continues_its_curves(workdir):  # noqa: F811
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from finetune.launcher import launch as start
    from finetune.launcher import resumable, resume
    from finetune.training_store import TrainingJobStore
    from jobs.launcher import stop

    store = TrainingJobStore()
    config = tiny_config(workdir, max_steps=400, checkpoint_every=2, test_file="", eval_every=10**6, probe_count=1)
    job_id = start(config, store)
    wait_for(store, job_id, lambda j: j.status == "running" and j.step >= 3)
    stop(store, job_id, wait=True, grace_s=120)
    stopped = store.get(job_id)
    assert stopped.status == "stopped" and resumable(store, job_id) == stopped.step
    assert resume(store, job_id, more_steps=2) == stopped.step  # two more steps from its checkpoint
    job = wait_for(store, job_id, lambda j: j.status in ("succeeded", "failed"))
    assert job.status == "succeeded", job.error
    end = stopped.step + 2
    assert job.step == end and job.total_steps == end and job.result["resumed_from"] == stopped.step
    assert [s for s, _ in store.metrics(job_id)["loss"]] == list(range(1, end + 1))  # no step twice, none lost
    probe_steps = sorted({r["step"] for r in store.probe_readings(job_id)})
    assert probe_steps[0] == 0 and probe_steps[-1] == end and stopped.step in probe_steps

    events = EventAccumulator(str(Path(job.log_path).parent / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert {"train/loss", "train/learning_rate", "probe/0/mean_reference_probability"} <= set(events.Tags()["scalars"])
    logged = {e.step: e.value for e in events.Scalars("train/loss")}
    assert sorted(logged) == list(range(1, end + 1))
    assert [logged[s] for s, _ in store.metrics(job_id)["loss"]] == pytest.approx(
        [v for _, v in store.metrics(job_id)["loss"]], rel=1e-6
    )


def test_an_adalora_job_trains_allocates_and_loads_back(workdir):  # noqa: F811
    from model_zoo import load_model

    config = tiny_config(
        workdir,
        method="adalora",
        max_steps=4,
        adalora_init_r=4,
        adalora_target_r=2,
        adalora_tinit=1,
        adalora_tfinal=1,
        checkpoint_every=0,
        test_file="",
        sample_count=0,
        name="ada",
    )
    result = train(config)
    assert result["steps"] == 4 and result["tuned"]["loss"] != pytest.approx(result["base"]["loss"], rel=1e-4)
    saved = json.loads((Path(result["adapter_path"]) / "adapter_config.json").read_text())
    assert saved["peft_type"] == "ADALORA" and saved["init_r"] == 4 and saved["target_r"] == 2
    assert saved["rank_pattern"]  # update_and_allocate ran: a rank per adapted weight was decided
    tuned = load_model(result["adapter_id"], device="cpu")
    assert type(tuned.model.base_model).__name__ == "AdaLoraModel"


def test_a_resumed_adalora_run_keeps_its_rank_allocator(workdir):  # noqa: F811
    """AdaLoRA's importance statistics and rank pattern go into the checkpoint: a run stopped inside the
    budget phase and resumed allocates, and so trains, as the uninterrupted run does."""
    common = dict(
        method="adalora", max_steps=7, adalora_init_r=4, adalora_target_r=2, adalora_tinit=1, adalora_tfinal=2,
        checkpoint_every=2, test_file="", test_limit=0, probe_count=0, eval_every=100, sample_count=0,
        learning_rate=5e-3,
    )  # fmt: skip
    whole: list[float] = []
    straight = train(
        tiny_config(workdir, checkpoint_dir=str(workdir / "a"), name="ada-a", **common),
        on_step=lambda s, m: whole.append(m["loss"]),
    )
    first: list[float] = []
    cut = tiny_config(workdir, checkpoint_dir=str(workdir / "b"), name="ada-b", **common)
    with pytest.raises(StopRequested):
        train(cut, stop_flag=lambda: len(first) >= 3, on_step=lambda s, m: first.append(m["loss"]))
    rest: dict[int, float] = {}
    cut.resume = True
    resumed = train(cut, on_step=lambda s, m: rest.update({s: m["loss"]}))
    assert resumed["resumed_from"] == 3 and sorted(rest) == [4, 5, 6, 7]
    assert [rest[s] for s in (4, 5, 6, 7)] == pytest.approx(whole[3:], rel=1e-5, abs=1e-6)
    patterns = [
        json.loads((Path(r["adapter_path"]) / "adapter_config.json").read_text())["rank_pattern"]
        for r in (straight, resumed)
    ]
    assert patterns[0] and patterns[0] == patterns[1]
