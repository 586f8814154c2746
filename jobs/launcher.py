"""Starting, queueing and stopping jobs, each a process of its own (``python -m finetune train``,
``python -m tracing evaluate``): whatever the kind, a job starts, waits its turn and stops the same way.

A job that holds a device first waits its turn: one job at a time per device, in the order they were
created, enforced by an exclusive file lock per device (released by the OS however the holder ends).
Stop is graceful first (a flag in the store and SIGTERM: the job ends between steps), then forced with
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

from jobs.store import JobStore, process_alive
from model_zoo.paths import data_dir

REPO = Path(__file__).resolve().parents[1]
STOP_GRACE_S = 15.0


def job_dir(job_id: int) -> Path:
    path = data_dir("jobs") / f"job-{job_id}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def heldout_path(job_id: int) -> Path:
    """Where a job keeps the held-out rows it was measured on (a fine-tune writes them), for an evaluation of
    them to read as questions."""
    return job_dir(job_id) / "heldout.jsonl"


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
