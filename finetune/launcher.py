"""Starting, queueing and stopping fine-tune jobs, each a process of its own (``python -m finetune train``).

A launched process first waits its turn: one job trains at a time per device, in the order they were
created, enforced by an exclusive file lock per device (released by the OS however the holder ends).
Stop is graceful first (a flag in the store and SIGTERM: the loop ends between steps), then forced with
SIGKILL once the grace period has passed.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from finetune.config import TrainConfig
from finetune.jobs import JobStore, process_alive
from model_zoo.paths import data_dir

REPO = Path(__file__).resolve().parents[1]
STOP_GRACE_S = 15.0


def device_key(config: TrainConfig) -> str:
    """The device a job will hold: its explicit setting, else the best available one."""
    if config.device:
        return config.device.split(":")[0]
    from model_zoo.device import pick_device

    return pick_device(None).type


def job_dir(job_id: int) -> Path:
    path = data_dir("jobs") / f"job-{job_id}"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


def start_process(store: JobStore, job_id: int, arguments: list[str], *, python: str = sys.executable) -> int:
    """Starts ``python ARGUMENTS`` for a job already in the store, from the repository root, in a process
    group of its own, logging to the job's log file, and records its process id. Any kind of job (a
    fine-tune, an evaluation) starts this way. Returns the process id."""
    log_path = store.get(job_id).log_path
    env = {"OMP_WAIT_POLICY": "PASSIVE"} | os.environ | {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [python, *arguments],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: a stop reaches every child, the app is untouched
        )
    record_process(store, job_id, proc.pid)
    return proc.pid


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


def record_process(store: JobStore, job_id: int, pid: int) -> None:
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        started = None
    store.update(job_id, pid=pid, pid_started=started)


def wait_for_device(store: JobStore, job_id: int, device: str, poll_s: float = 0.5):
    """Blocks until this job is the oldest live one on its device and holds the device lock; returns the lock
    file (keep it open while training). Returns None if the job was asked to stop while it waited."""
    lock = open(data_dir("jobs") / f"device-{device}.lock", "w")  # noqa: SIM115 - held for the whole run
    while True:
        if store.stop_requested(job_id):
            lock.close()
            return None
        waiting = store.active_on_device(device)
        if waiting and waiting[0].id == job_id:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return lock
            except BlockingIOError:
                pass
        time.sleep(poll_s)


def stop(store: JobStore, job_id: int, *, grace_s: float = STOP_GRACE_S, wait: bool = False) -> None:
    """Asks a job to stop (flag + SIGTERM); with ``wait``, forces it after ``grace_s`` if it has not ended."""
    job = store.get(job_id)
    if job is None or not job.active:
        return
    store.request_stop(job_id)
    _signal(job.pid, job.pid_started, signal.SIGTERM)
    if not wait:
        return
    deadline = time.time() + grace_s
    while time.time() < deadline and process_alive(job.pid, job.pid_started):
        time.sleep(0.2)
    enforce_stops(store, grace_s=0.0)


def enforce_stops(store: JobStore, *, grace_s: float = STOP_GRACE_S) -> list[int]:
    """SIGKILLs jobs still running ``grace_s`` after a stop was asked for; returns their ids. The page calls
    this as it polls; the job also arms its own alarm, so it ends even when nobody watches."""
    forced = []
    for job in store.list_jobs():
        if job.status == "stopping" and job.stop_requested_at and time.time() - job.stop_requested_at >= grace_s:
            if _signal(job.pid, job.pid_started, signal.SIGKILL):
                forced.append(job.id)
                deadline = time.time() + 5
                while time.time() < deadline and process_alive(job.pid, job.pid_started):
                    time.sleep(0.1)
            store.finish(job.id, "stopped", error=f"forced to stop after {grace_s:.0f} s grace")
    return forced


def _signal(pid: int | None, started: float | None, sig: int) -> bool:
    if not process_alive(pid, started):
        return False
    try:
        if os.getpgid(pid) == pid:  # a launched job leads its own group: reach its children too
            os.killpg(pid, sig)
        else:  # started by hand inside someone else's group: signal only the job itself
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
