"""One lifecycle for every kind of job run as a process of its own (a fine-tune, an evaluation): the SIGTERM
handler that asks the work to stop and arms a forced end, the process recorded when started by hand, the turn
on a device, the running status, and how the job ends: succeeded with its result, stopped, or failed with
its reason and the tail of its log."""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from collections.abc import Callable

from jobs.launcher import record_process, wait_for_device
from jobs.store import JobStore, log_tail, process_alive

EXIT_OK, EXIT_FAILED = 0, 1
log = logging.getLogger(__name__)


def run_as_job(
    store: JobStore,
    job_id: int,
    work: Callable[[], dict | None],
    *,
    on_term: Callable[[], None],
    grace_s: float,
    main: bool = True,
    device: str | None = None,
    stopped: tuple[type[BaseException], ...] = (),
) -> int:
    """Runs ``work()`` as job ``job_id`` of ``store`` and returns the process's exit status.

    On SIGTERM, ``on_term()`` asks the work to stop (it ends between steps) and a forced end follows after
    ``grace_s`` seconds. Only the ``main`` process (of several under ``accelerate launch``) writes to the
    store. With ``device``, the job first waits its turn on it. ``work`` returns the fields the finished row
    gets (``result`` and any other column), or None when there is nothing to record; an exception of a
    ``stopped`` type ends the job stopped, any other ends it failed. Raises LookupError for an unknown job."""

    def on_signal(signum, frame) -> None:
        on_term()
        signal.alarm(int(grace_s))  # a forced end if the graceful one takes too long

    signal.signal(signal.SIGTERM, on_signal)
    lock = None
    if main:
        job = store.get(job_id)
        if job is None:
            raise LookupError(f"job {job_id} is not in the store {store.path}")
        if not process_alive(job.pid, job.pid_started):  # started by hand (accelerate launch), not launched
            record_process(store, job_id, os.getpid())
        if device is not None:
            lock = wait_for_device(store, job_id, device)
            if lock is None:
                store.finish(job_id, "stopped", error="stopped while queued")
                return EXIT_OK
        store.update(job_id, status="running", started_at=time.time())
    try:
        fields = work()
    except stopped as exc:
        log.info("%s", exc)
        if main:
            store.finish(job_id, "stopped", error=str(exc))
        return EXIT_OK
    except Exception as exc:  # any failure ends the job as failed, with its reason and the log's tail
        log.error("the job failed:\n%s", traceback.format_exc())
        if main:
            job = store.get(job_id)
            tail = log_tail(job.log_path) if job and job.log_path else traceback.format_exc()
            store.finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}\n\nlast log lines:\n{tail}")
        return EXIT_FAILED
    finally:
        if lock is not None:
            lock.close()
    if main and fields is not None:
        store.finish(job_id, "succeeded", **fields)
    return EXIT_OK
