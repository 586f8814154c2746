"""Launching and resuming fine-tune jobs (``python -m finetune train``) through the job room's launcher
(`jobs.launcher`: start, queue, stop)."""

from __future__ import annotations

import sys
from pathlib import Path

from finetune.config import TrainConfig
from jobs.launcher import job_dir, start_process
from jobs.store import JobStore


def device_key(config: TrainConfig) -> str:
    """The device a job will hold: its explicit setting, else the best available one."""
    if config.device:
        return config.device.split(":")[0]
    from model_zoo.device import pick_device

    return pick_device(None).type


def create_job(config: TrainConfig, store: JobStore) -> tuple[int, Path]:
    """A queued job row plus its folder, config file and log path; the config file names the job and store."""
    device = device_key(config)
    for name in ("train_file", "validation_file", "test_file"):  # the job runs from the repository root
        if getattr(config, name):
            setattr(config, name, str(Path(getattr(config, name)).resolve()))
    job_id = store.create_job(name=config.name or Path(config.train_file).stem, device=device, config=config.to_dict())
    folder = job_dir(job_id)
    config.job_id, config.store = job_id, str(store.path)
    config.checkpoint_dir = config.checkpoint_dir or str(folder / "checkpoints")
    config.tensorboard_dir = config.tensorboard_dir or str(folder / "tensorboard")
    config_path = config.save(folder / "config.json")
    store.update(job_id, config=config.to_dict(), log_path=str(folder / "train.log"))
    return job_id, config_path


def launch(config: TrainConfig, store: JobStore | None = None, *, python: str = sys.executable) -> int:
    """Creates the job and starts its process (it queues itself if the device is busy). Returns the job id."""
    problems = config.problems()
    if problems:
        raise ValueError("cannot launch: " + "; ".join(problems))
    store = store or JobStore()
    job_id, config_path = create_job(config, store)
    start_process(store, job_id, ["-m", "finetune", "train", "--config", str(config_path)], python=python)
    return job_id


def resumable(store: JobStore, job_id: int) -> int | None:
    """The step a finished job would resume from (its latest checkpoint with a training state), or None."""
    from finetune.checkpoints import latest_resumable

    job = store.get(job_id)
    if job is None or job.active or not job.config.get("checkpoint_dir"):
        return None
    folder = latest_resumable(job.config["checkpoint_dir"])
    return int(folder.name[5:]) if folder else None


def resume(store: JobStore, job_id: int, *, more_steps: int = 0, python: str = sys.executable) -> int:
    """Queues a stopped, failed or finished job again, to continue from its latest checkpoint: to its planned
    last step, or with ``more_steps`` that many steps past the checkpoint. Returns the step it resumes from;
    ValueError if it cannot (no checkpoint, still active, or nothing left to train)."""
    step = resumable(store, job_id)
    if step is None:
        raise ValueError(f"job {job_id} has no checkpoint to resume from (or is still running)")
    job = store.get(job_id)
    config = TrainConfig.from_dict(job.config)
    total = step + more_steps if more_steps > 0 else job.total_steps
    if total <= step:
        raise ValueError(f"job {job_id} already trained its {total} steps; ask for more steps")
    config.resume, config.max_steps = True, total
    config_path = config.save(Path(job.log_path).parent / "config.json")
    if not store.reopen(job_id, config=config.to_dict(), total_steps=total):
        raise ValueError(f"job {job_id} is still active")
    start_process(store, job_id, ["-m", "finetune", "train", "--config", str(config_path)], python=python)
    return step
