"""The job store: WAL mode, a restart sees every job, dead processes are settled, the device queue is in order."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from finetune.training_store import PROBE_FIELDS, TrainingJobStore
from jobs.launcher import enforce_stops, record_process, wait_for_device
from jobs.store import FINETUNE, SCHEMA, process_alive


@pytest.fixture
def store(tmp_path, monkeypatch) -> TrainingJobStore:
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    return TrainingJobStore(tmp_path / "jobs.sqlite")


def test_wal_and_a_second_handle_sees_everything(store):
    job_id = store.create_job(name="a", device="cpu", config={"lr": 1})
    store.add_metrics(job_id, 1, {"loss": 2.0})
    store.add_metrics(job_id, 2, {"loss": 1.5, "val_loss": 1.7})
    store.add_samples(job_id, 2, [{"prompt": "p", "output": "o", "reference": "r"}])
    store.set_evaluation(job_id, "base", {"loss": 2.0, "exact_match": 0.1})
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again = TrainingJobStore(store.path)  # a second tab, or the app after a restart
    assert again.metrics(job_id) == {"loss": [(1, 2.0), (2, 1.5)], "val_loss": [(2, 1.7)]}
    assert again.samples(job_id)[0]["output"] == "o"
    assert again.evaluations(job_id) == {"base": {"loss": 2.0, "exact_match": 0.1}}
    assert again.get(job_id).config == {"lr": 1}


def test_killed_process_marks_the_job_failed_with_its_log_tail(store, tmp_path):
    log = tmp_path / "train.log"
    log.write_text("loading\nstep 1 loss 2.0\nstep 2 loss 1.9\n")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job_id = store.create_job(name="victim", device="cpu", config={}, log_path=str(log))
    record_process(store, job_id, proc.pid)
    store.update(job_id, status="running")
    assert store.get(job_id).status == "running"
    proc.kill()
    proc.wait()
    job = store.get(job_id)
    assert job.status == "failed" and "the training process died" in job.error and "step 2 loss 1.9" in job.error


def test_recycled_pid_is_not_taken_for_the_job(store):
    job_id = store.create_job(name="old", device="cpu", config={})
    store.update(job_id, pid=os.getpid(), pid_started=1.0, status="running")  # our pid, but not our start time
    assert not process_alive(os.getpid(), 1.0)
    assert store.get(job_id).status == "failed"


def test_stop_requested_on_a_dead_job_ends_stopped_and_forcing_kills(store):
    proc = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
        start_new_session=True,
    )
    job_id = store.create_job(name="stubborn", device="cpu", config={})
    record_process(store, job_id, proc.pid)
    store.update(job_id, status="running")
    store.request_stop(job_id)
    assert enforce_stops(store, grace_s=60) == []
    assert enforce_stops(store, grace_s=0) == [job_id]
    proc.wait(timeout=10)
    job = store.get(job_id)
    assert job.status == "stopped" and "forced" in job.error


def test_one_job_per_device_in_creation_order(store):
    first = store.create_job(name="first", device="cpu", config={})
    second = store.create_job(name="second", device="cpu", config={})
    for job_id in (first, second):
        record_process(store, job_id, os.getpid())
    lock = wait_for_device(store, first, "cpu", poll_s=0.01)
    assert lock is not None
    store.request_stop(second)  # the second waits behind the first until asked to stop
    started = time.time()
    assert wait_for_device(store, second, "cpu", poll_s=0.01) is None
    assert time.time() - started < 5
    lock.close()


def test_a_store_written_before_job_kinds_opens_with_every_job_a_fine_tune(tmp_path):
    path = tmp_path / "old.sqlite"
    old_schema = SCHEMA.replace(",\n    kind TEXT NOT NULL DEFAULT 'finetune'\n", "\n")
    assert "kind" not in old_schema
    with sqlite3.connect(path) as db:
        db.executescript(old_schema)
        db.execute(
            "INSERT INTO jobs (name, status, device, config, created_at) VALUES ('old', 'succeeded', 'cpu', '{}', 1)"
        )
    store = TrainingJobStore(path)
    assert [(j.name, j.kind) for j in store.list_jobs()] == [("old", FINETUNE)]
    new = store.create_job(name="e", device="cpu", config={}, kind="evaluate")
    assert [j.id for j in store.list_jobs("evaluate")] == [new]
    assert [j.name for j in TrainingJobStore(path).list_jobs(FINETUNE)] == ["old"]


def test_a_plain_store_and_the_training_store_share_one_file(tmp_path):
    from jobs.store import JobStore

    plain = JobStore(tmp_path / "jobs.sqlite")  # an evaluation's process may create the file first
    job_id = plain.create_job(name="t", device="cpu", config={})
    training = TrainingJobStore(plain.path)
    training.add_probe_readings(job_id, 4, [dict.fromkeys(PROBE_FIELDS, 0) | {"token": "a", "prob": 0.5}])
    training.add_metrics(job_id, 4, {"loss": 1.0})
    training.forget_after(job_id, 3)  # a resume from step 3 drops the probe readings after it too
    assert training.probe_readings(job_id) == [] and plain.metrics(job_id) == {}
