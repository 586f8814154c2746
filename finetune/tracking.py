"""Where a training job reports as it goes: the job store (what the page polls), TensorBoard event files
under the job's folder (``tensorboard --logdir <data home>/jobs`` shows every job) and, when installed and
asked for, MLflow; from the main process only.

TensorBoard gets every scalar the store gets (loss, learning rate, validation loss, tokens), each probe's
mean probability and rank of its reference tokens, and each probe's per-moment probabilities as an image
(one column per moment, brighter = more likely). A resumed job purges events after its checkpoint, so the
curves continue instead of doubling back.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np

from finetune.training_store import TrainingJobStore

SCALAR_TAGS = {"loss": "train/loss", "lr": "train/learning_rate", "tokens": "train/tokens", "val_loss": "eval/loss"}


def by_probe(readings: list[dict]) -> dict[int, list[dict]]:
    """The readings of each probe, in moment order (``readings`` as ``finetune.probes.read_probes`` gives)."""
    out: dict[int, list[dict]] = {}
    for row in readings:
        out.setdefault(row["probe"], []).append(row)
    return out


def probe_scalars(readings: list[dict]) -> dict[str, float]:
    """Per probe, the mean probability and the mean rank of its reference tokens, under their tags."""
    out = {}
    for probe, rows in by_probe(readings).items():
        out[f"probe/{probe}/mean_reference_probability"] = float(np.mean([r["prob"] for r in rows]))
        out[f"probe/{probe}/mean_reference_rank"] = float(np.mean([r["rank"] for r in rows]))
    return out


class TensorBoardTracker:
    def __init__(self, log_dir: str, purge_after: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=log_dir, purge_step=None if purge_after is None else purge_after + 1)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(SCALAR_TAGS.get(name, name), float(value), step)
        self.writer.flush()

    def probes(self, step: int, readings: list[dict]) -> None:
        """``readings`` as ``finetune.probes.read_probes`` gives them (one dict per probe and moment)."""
        for name, value in probe_scalars(readings).items():
            self.writer.add_scalar(name, value, step)
        for probe, rows in by_probe(readings).items():
            probs = np.array([r["prob"] for r in rows], dtype=np.float32)
            strip = np.repeat(probs[None, None, :], 8, axis=1)  # [1 channel, 8 rows, moments]
            self.writer.add_image(f"probe/{probe}/reference_probability_by_moment", strip, step, dataformats="CHW")
        self.writer.flush()

    def close(self, status: str = "finished") -> None:
        self.writer.close()


# name -> (module that must be importable, what to install)
OPTIONAL_TRACKERS = {"mlflow": ("mlflow", "mlflow-skinny")}
MLFLOW_EXPERIMENT = "momentscope"
MLFLOW_RUN_FILE = "mlflow_run_id"  # in the checkpoint folder: a resumed job logs on into the same run


def installed_trackers() -> list[str]:
    return [name for name, (module, _) in OPTIONAL_TRACKERS.items() if importlib.util.find_spec(module)]


def tracker_problems(names: list[str]) -> list[str]:
    """Why the asked-for trackers cannot run here, in words (an unknown name, a package not installed)."""
    out = []
    for name in names:
        if name not in OPTIONAL_TRACKERS:
            out.append(f"tracker {name!r} is not one of {', '.join(map(repr, OPTIONAL_TRACKERS))}")
        elif name not in installed_trackers():
            package = OPTIONAL_TRACKERS[name][1]
            out.append(f"{name} is not installed here: `pip install {package}` (or leave {name} off)")
    return out


def _flat(settings: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = str(value)[:500]  # MLflow's limit for a parameter's value
    return out


class MlflowTracker:
    """One MLflow run per job (a resumed job logs on into its run), through `MlflowClient`, so the job's
    process keeps no global MLflow state. The run gets the job's settings as parameters; the metrics and
    probe figures get the TensorBoard tags. Points after a resume's checkpoint that the stopped run had
    logged stay in the run's history (MLflow keeps every point; TensorBoard's purge has no MLflow match)."""

    def __init__(self, uri: str, run_name: str, settings: dict, run_file: Path | None = None, resume: bool = False):
        from mlflow import MlflowClient
        from mlflow.entities import Param

        if uri.startswith("file:"):  # MLflow keeps its folder store behind an opt-in, in maintenance mode
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        known = run_file.read_text().strip() if resume and run_file is not None and run_file.exists() else ""
        if known:
            self.client.update_run(known, status="RUNNING")
            self.run_id = known
        else:
            experiment = self.client.get_experiment_by_name(MLFLOW_EXPERIMENT)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(MLFLOW_EXPERIMENT)
            self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
            params = [Param(key, value) for key, value in sorted(_flat(settings).items())]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters per batch
                self.client.log_batch(self.run_id, params=params[start : start + 100])
            if run_file is not None:
                run_file.parent.mkdir(parents=True, exist_ok=True)
                run_file.write_text(self.run_id)

    @staticmethod
    def default_uri(home: Path) -> str:
        """$MLFLOW_TRACKING_URI when set, else a folder store under the data home (a database store needs
        the full mlflow package, not mlflow-skinny)."""
        return os.environ.get("MLFLOW_TRACKING_URI") or (home / "mlruns").resolve().as_uri()

    def _log(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._log(step, {SCALAR_TAGS.get(name, name): value for name, value in values.items()})

    def probes(self, step: int, readings: list[dict]) -> None:
        self._log(step, probe_scalars(readings))

    def close(self, status: str = "finished") -> None:
        self.client.set_terminated(self.run_id, status="KILLED" if status == "stopped" else "FINISHED")


class Reporter:
    """Writes progress to the job store and the trackers from the main process; silent on other ranks, and
    without a store it only feeds the trackers."""

    def __init__(self, store: TrainingJobStore | None, job_id: int | None, enabled: bool, trackers: list | None = None):
        self.store, self.job_id = (store, job_id) if enabled and store is not None and job_id else (None, None)
        self.trackers = (trackers or []) if enabled else []

    def update(self, **fields) -> None:
        """The job's row: phase, progress, timings."""
        if self.store is not None:
            self.store.update(self.job_id, **fields)

    def add_metrics(self, step: int, values: dict[str, float]) -> None:
        if self.store is not None:
            self.store.add_metrics(self.job_id, step, values)
        for tracker in self.trackers:
            tracker.scalars(step, values)

    def add_samples(self, step: int, samples: list[dict]) -> None:
        if self.store is not None:
            self.store.add_samples(self.job_id, step, samples)

    def set_evaluation(self, model: str, metrics: dict) -> None:
        if self.store is not None:
            self.store.set_evaluation(self.job_id, model, metrics)

    def add_probe_readings(self, step: int, readings: list[dict]) -> None:
        if self.store is not None:
            self.store.add_probe_readings(self.job_id, step, readings)
        for tracker in self.trackers:
            tracker.probes(step, readings)

    def forget_after(self, step: int) -> None:
        """Drops what the job recorded after ``step`` (a resume from there redoes those steps)."""
        if self.store is not None:
            self.store.forget_after(self.job_id, step)

    def stop_requested(self) -> bool:
        return self.store is not None and self.store.stop_requested(self.job_id)

    def close(self, status: str = "finished") -> None:
        """Ends every tracker's record of the run (``status``: "finished" or "stopped")."""
        for tracker in self.trackers:
            tracker.close(status)
