"""The job store: one SQLite file (WAL mode) shared by the app, every tab and every job process (a fine-tune,
an evaluation).

It keeps each job's kind, settings, status, progress, per-step metrics, sample generations, timings and log
path; a kind of job adds tables of its own (`finetune.training_store`). Reading it is also how dead jobs are found: a job whose process is gone while its status
says it is still active is marked failed (or stopped, if a stop was asked for) with the tail of its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from model_zoo.paths import data_dir

ACTIVE = ("queued", "running", "stopping")
FINISHED = ("succeeded", "failed", "stopped")
STARTUP_GRACE_S = 60.0  # a launched job gets this long to record its process id
LOG_TAIL_LINES = 30
FINETUNE = "finetune"  # the kind of a training job, and of rows written before jobs had kinds
# Columns added since the first stores were written: (name, definition); added to an older file when opened.
ADDED_COLUMNS = (("kind", f"TEXT NOT NULL DEFAULT '{FINETUNE}'"),)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL,
    config TEXT NOT NULL,
    pid INTEGER,
    pid_started REAL,
    log_path TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    train_started_at REAL,
    finished_at REAL,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    train_seconds REAL NOT NULL DEFAULT 0,
    stop_requested_at REAL,
    adapter_id TEXT,
    adapter_path TEXT,
    error TEXT,
    result TEXT NOT NULL DEFAULT '{}',
    kind TEXT NOT NULL DEFAULT 'finetune'
);
CREATE TABLE IF NOT EXISTS metrics (
    job_id INTEGER NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics (job_id, name, step);
CREATE TABLE IF NOT EXISTS samples (
    job_id INTEGER NOT NULL, step INTEGER NOT NULL, prompt TEXT NOT NULL, output TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT ''
);
"""


@dataclass
class Job:
    id: int
    name: str
    status: str
    phase: str
    device: str
    config: dict
    pid: int | None
    pid_started: float | None
    log_path: str
    created_at: float
    started_at: float | None
    train_started_at: float | None
    finished_at: float | None
    step: int
    total_steps: int
    tokens: int
    train_seconds: float
    stop_requested_at: float | None
    adapter_id: str | None
    adapter_path: str | None
    error: str | None
    result: dict = field(default_factory=dict)
    kind: str = FINETUNE

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds of training left at the pace so far; None before the first step."""
        if self.status != "running" or not self.step or not self.total_steps or not self.train_seconds:
            return None
        return self.train_seconds / self.step * max(0, self.total_steps - self.step)

    @property
    def elapsed_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at


def _job_from_row(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["config"] = json.loads(values["config"])
    values["result"] = json.loads(values["result"] or "{}")
    return Job(**values)


def default_store_path() -> Path:
    return data_dir("jobs") / "jobs.sqlite"


def log_tail(path: str | Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def process_alive(pid: int | None, started: float | None) -> bool:
    """Whether ``pid`` is still the process that was recorded (not a zombie, not a recycled id)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 1.0:
            return False
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError):  # our own child: collect it so it does not linger
                os.waitpid(pid, os.WNOHANG)
            return False
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class JobStore:
    """A handle on the store file; cheap to create, safe to use from several processes and threads. A kind of
    job with tables of its own subclasses it with those tables' ``SCHEMA`` and ``STEP_TABLES``."""

    SCHEMA = SCHEMA
    STEP_TABLES = ("metrics", "samples")  # rows a job records per step, dropped after a step on resume

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(self.SCHEMA)
            present = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            for name, definition in ADDED_COLUMNS:
                if name not in present:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                        db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {definition}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")  # first, so the switch to WAL below waits too
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    # writing
    def create_job(self, *, name: str, device: str, config: dict, log_path: str = "", kind: str = FINETUNE) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO jobs (name, status, device, config, log_path, created_at, kind)"
                " VALUES (?, 'queued', ?, ?, ?, ?, ?)",
                (name, device, json.dumps(config), log_path, time.time(), kind),
            )
            return int(cursor.lastrowid)

    def update(self, job_id: int, **fields) -> None:
        if "config" in fields:
            fields["config"] = json.dumps(fields["config"])
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        columns = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))

    def finish(self, job_id: int, status: str, *, error: str | None = None, **fields) -> None:
        """Moves an active job to a finished status (a job already finished keeps its status)."""
        assert status in FINISHED, status
        sets = {"status": status, "phase": "", "finished_at": time.time(), "error": error, **fields}
        if "result" in sets:
            sets["result"] = json.dumps(sets["result"])
        columns = ", ".join(f"{k} = ?" for k in sets)
        placeholders = ", ".join("?" for _ in ACTIVE)
        with self._connect() as db:
            db.execute(
                f"UPDATE jobs SET {columns} WHERE id = ? AND status IN ({placeholders})",
                (*sets.values(), job_id, *ACTIVE),
            )

    def add_metrics(self, job_id: int, step: int, values: dict[str, float]) -> None:
        now = time.time()
        with self._connect() as db:
            db.executemany(
                "INSERT INTO metrics (job_id, step, name, value, at) VALUES (?, ?, ?, ?, ?)",
                [(job_id, step, name, float(value), now) for name, value in values.items()],
            )

    def add_samples(self, job_id: int, step: int, samples: list[dict]) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT INTO samples (job_id, step, prompt, output, reference) VALUES (?, ?, ?, ?, ?)",
                [(job_id, step, s["prompt"], s["output"], s.get("reference", "")) for s in samples],
            )

    def forget_after(self, job_id: int, step: int) -> None:
        """Drops what a job recorded after ``step`` (a resume from the checkpoint there redoes those steps)."""
        with self._connect() as db:
            for table in self.STEP_TABLES:
                db.execute(f"DELETE FROM {table} WHERE job_id = ? AND step > ?", (job_id, step))

    def reopen(self, job_id: int, **fields) -> bool:
        """Queues a finished job again (to resume or extend it); False if it is still active or unknown."""
        sets = {"status": "queued", "phase": "", "finished_at": None, "stop_requested_at": None, "error": None}
        sets |= {"pid": None, "pid_started": None, "created_at": time.time()} | fields
        if "config" in sets:
            sets["config"] = json.dumps(sets["config"])
        columns = ", ".join(f"{k} = ?" for k in sets)
        placeholders = ", ".join("?" for _ in FINISHED)
        with self._connect() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {columns} WHERE id = ? AND status IN ({placeholders})",
                (*sets.values(), job_id, *FINISHED),
            )
            return cursor.rowcount == 1

    def request_stop(self, job_id: int) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = 'stopping', stop_requested_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                (time.time(), job_id),
            )

    def stop_requested(self, job_id: int) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT stop_requested_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    # reading (every read first settles jobs whose process has died)
    def get(self, job_id: int) -> Job | None:
        self.settle_dead_jobs()
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_from_row(row) if row else None

    def list_jobs(self, kind: str | None = None) -> list[Job]:
        """Every job (of one ``kind``, when given), newest first."""
        self.settle_dead_jobs()
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY id DESC").fetchall()
        return [job for job in map(_job_from_row, rows) if kind is None or job.kind == kind]

    def metrics(self, job_id: int) -> dict[str, list[tuple[int, float]]]:
        """``{name: [(step, value), ...]}`` in step order."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT name, step, value FROM metrics WHERE job_id = ? ORDER BY step, rowid", (job_id,)
            ).fetchall()
        out: dict[str, list[tuple[int, float]]] = {}
        for name, step, value in rows:
            out.setdefault(name, []).append((step, value))
        return out

    def samples(self, job_id: int) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM samples WHERE job_id = ? ORDER BY step, rowid", (job_id,)).fetchall()
        return [dict(r) for r in rows]

    def settle_dead_jobs(self) -> list[int]:
        """Marks active jobs whose process is gone as failed (or stopped) with their log tail; returns their ids."""
        placeholders = ", ".join("?" for _ in ACTIVE)
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM jobs WHERE status IN ({placeholders})", ACTIVE).fetchall()
        settled = []
        now = time.time()
        for job in map(_job_from_row, rows):
            if job.pid is None and now - job.created_at < STARTUP_GRACE_S:
                continue
            if process_alive(job.pid, job.pid_started):
                continue
            tail = log_tail(job.log_path) if job.log_path else ""
            if job.status == "stopping":
                self.finish(job.id, "stopped", error="stopped (process ended before finishing)")
            else:
                what = "training" if job.kind == FINETUNE else job.kind
                reason = f"the {what} process died" if job.pid else f"the {what} process never started"
                self.finish(job.id, "failed", error=f"{reason}; last log lines:\n{tail}" if tail else reason)
            settled.append(job.id)
        return settled

    def active_on_device(self, device: str) -> list[Job]:
        """Queued or running jobs on one device, oldest first."""
        return sorted((j for j in self.list_jobs() if j.active and j.device == device), key=lambda j: j.id)
