"""Where a training job reports as it goes: the job store (what the page polls) and TensorBoard event files
under the job's folder (``tensorboard --logdir <data home>/jobs`` shows every job), from the main process only.

TensorBoard gets every scalar the store gets (loss, learning rate, validation loss, tokens), each probe's
mean probability and rank of its reference tokens, and each probe's per-moment probabilities as an image
(one column per moment, brighter = more likely). A resumed job purges events after its checkpoint, so the
curves continue instead of doubling back.
"""

from __future__ import annotations

import numpy as np

from finetune.jobs import JobStore

SCALAR_TAGS = {"loss": "train/loss", "lr": "train/learning_rate", "tokens": "train/tokens", "val_loss": "eval/loss"}


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
        by_probe: dict[int, list[dict]] = {}
        for row in readings:
            by_probe.setdefault(row["probe"], []).append(row)
        for probe, rows in by_probe.items():
            probs = np.array([r["prob"] for r in rows], dtype=np.float32)
            self.writer.add_scalar(f"probe/{probe}/mean_reference_probability", float(probs.mean()), step)
            self.writer.add_scalar(
                f"probe/{probe}/mean_reference_rank", float(np.mean([r["rank"] for r in rows])), step
            )
            strip = np.repeat(probs[None, None, :], 8, axis=1)  # [1 channel, 8 rows, moments]
            self.writer.add_image(f"probe/{probe}/reference_probability_by_moment", strip, step, dataformats="CHW")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Reporter:
    """Writes progress to the job store and the trackers from the main process; silent on other ranks, and
    without a store it only feeds the trackers."""

    def __init__(self, store: JobStore | None, job_id: int | None, enabled: bool, trackers: list | None = None):
        self.store, self.job_id = (store, job_id) if enabled and store is not None and job_id else (None, None)
        self.trackers = (trackers or []) if enabled else []

    def __call__(self, method: str, *args, **kwargs) -> None:
        if self.store is not None:
            getattr(self.store, method)(self.job_id, *args, **kwargs)
        if method == "add_metrics":
            for tracker in self.trackers:
                tracker.scalars(*args)
        elif method == "add_probe_readings":
            for tracker in self.trackers:
                tracker.probes(*args)

    def stop_requested(self) -> bool:
        return self.store is not None and self.store.stop_requested(self.job_id)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
