"""The fine-tune job's own tables in the job store (`jobs.store`): each model's held-out evaluation (base and
tuned) and the probe readings taken through training."""

from __future__ import annotations

import json

from jobs.store import JobStore

TRAINING_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    job_id INTEGER NOT NULL, model TEXT NOT NULL, metrics TEXT NOT NULL, PRIMARY KEY (job_id, model)
);
CREATE TABLE IF NOT EXISTS probe_readings (
    job_id INTEGER NOT NULL, step INTEGER NOT NULL, probe INTEGER NOT NULL, moment INTEGER NOT NULL,
    token_id INTEGER NOT NULL, token TEXT NOT NULL, prob REAL NOT NULL, rank INTEGER NOT NULL,
    entropy REAL NOT NULL, top TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS probe_readings_job ON probe_readings (job_id, probe, moment, step);
"""
PROBE_FIELDS = ("probe", "moment", "token_id", "token", "prob", "rank", "entropy")


class TrainingJobStore(JobStore):
    """The job store with the fine-tune job's tables; any other kind of job reads the same file as a
    plain `JobStore`."""

    SCHEMA = JobStore.SCHEMA + TRAINING_SCHEMA
    STEP_TABLES = (*JobStore.STEP_TABLES, "probe_readings")

    def set_evaluation(self, job_id: int, model: str, metrics: dict) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO evaluations (job_id, model, metrics) VALUES (?, ?, ?)",
                (job_id, model, json.dumps(metrics)),
            )

    def add_probe_readings(self, job_id: int, step: int, readings: list[dict]) -> None:
        """Rows as ``finetune.probes.read_probes`` gives them: one per probe and moment."""
        with self._connect() as db:
            db.executemany(
                f"INSERT INTO probe_readings (job_id, step, {', '.join(PROBE_FIELDS)}, top) "
                f"VALUES (?, ?, {', '.join('?' for _ in PROBE_FIELDS)}, ?)",
                [(job_id, step, *(r[k] for k in PROBE_FIELDS), json.dumps(r.get("top", []))) for r in readings],
            )

    def evaluations(self, job_id: int) -> dict[str, dict]:
        with self._connect() as db:
            rows = db.execute("SELECT model, metrics FROM evaluations WHERE job_id = ?", (job_id,)).fetchall()
        return {model: json.loads(metrics) for model, metrics in rows}

    def probe_readings(self, job_id: int) -> list[dict]:
        """Every probe reading of a job, by probe, moment and step (``top`` decoded)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM probe_readings WHERE job_id = ? ORDER BY probe, moment, step", (job_id,)
            ).fetchall()
        return [dict(r) | {"top": json.loads(r["top"])} for r in rows]
