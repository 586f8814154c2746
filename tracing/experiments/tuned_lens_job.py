"""Training a tuned lens as a job of the job store (kind ``tuned-lens``): its own process (``python -m tracing
lens train --config JOB.json``), with progress, per-step loss, Stop and Resume that outlive the page.

The text (an uploaded file, or the model's own samples) is cut into chunks once and kept in the job's folder
with the config; a checkpoint (translators, optimiser, steps) is written every few steps and when stopped, so
a resumed job goes on from there. The finished lens is measured on the held-out chunks against the logit
lens, saved for its model (`tracing.inspection.tuned_lens.lens`) and the report kept as the job's result.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from jobs.launcher import job_dir, start_process
from jobs.store import JobStore

KIND = "tuned-lens"
CONFIG_FILE, CHUNKS_FILE, CHECKPOINT_FILE, REPORT_FILE = "lens.json", "chunks.json", "checkpoint.pt", "report.json"
CHECKPOINT_EVERY = 5


class LensStopped(Exception):
    """The job was asked to stop; its checkpoint is written."""


@dataclass
class LensJobConfig:
    """One model's lens: trained ``steps`` steps of one ``chunk``-token chunk each, on ``text_file`` or on
    ``samples`` texts the model samples itself (``sample_tokens`` each); ``heldout`` of the chunks kept
    apart for the report."""

    model: str = ""
    text_file: str = ""
    samples: int = 0
    sample_tokens: int = 96
    steps: int = 20
    chunk: int = 32
    lr: float = 1e-3
    heldout: float = 0.1
    device: str = "cpu"
    name: str = ""
    job_id: int | None = None
    store: str = ""

    def problems(self) -> list[str]:
        found = []
        if not self.model:
            found.append("name the model to train a lens for")
        if bool(self.text_file) == (self.samples > 0):
            found.append("give a text file or a number of the model's own samples (one of them)")
        if self.text_file and not Path(self.text_file).is_file():
            found.append(f"no text file at {self.text_file}")
        if self.steps < 1 or self.chunk < 2 or not 0 < self.heldout < 1 or self.lr <= 0:
            found.append("steps must be at least 1, chunk at least 2, heldout between 0 and 1, lr positive")
        return found

    def save(self, path: Path) -> Path:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> LensJobConfig:
        return cls(**json.loads(Path(path).read_text()))


def record_lens_job(config: LensJobConfig, store: JobStore) -> int:
    """Records the job (queued, its config in its folder) without starting it; returns its id. ValueError
    for bad settings."""
    if problems := config.problems():
        raise ValueError("cannot start: " + "; ".join(problems))
    if config.text_file:
        config.text_file = str(Path(config.text_file).resolve())
    name = config.name or f"tuned lens of {config.model}"
    job_id = store.create_job(name=name, device=config.device, config=asdict(config), kind=KIND)
    folder = job_dir(job_id)
    config.job_id, config.store, config.name = job_id, str(store.path), name
    config.save(folder / CONFIG_FILE)
    store.update(job_id, config=asdict(config), log_path=str(folder / "lens.log"), total_steps=config.steps)
    return job_id


def launch_lens_training(config: LensJobConfig, store: JobStore, *, python: str = sys.executable) -> int:
    """Records the job and starts its process; returns the job id. ValueError for bad settings."""
    job_id = record_lens_job(config, store)
    _start(store, job_id, python)
    return job_id


def resume_lens_training(store: JobStore, job_id: int, *, python: str = sys.executable) -> bool:
    """Queues a stopped or failed lens job again and starts it from its checkpoint; False if it is active."""
    job = store.get(job_id)
    if job is None or job.kind != KIND or job.status not in ("stopped", "failed") or not store.reopen(job_id):
        return False
    _start(store, job_id, python)
    return True


def _start(store: JobStore, job_id: int, python: str) -> None:
    config_path = job_dir(job_id) / CONFIG_FILE
    start_process(store, job_id, ["-m", "tracing", "lens", "train", "--config", str(config_path)], python=python)


def job_chunks(loaded, config: LensJobConfig, folder: Path) -> list[list[int]]:
    """The job's chunks: read from its folder on a resume, else made from its text and kept there."""
    from datafiles.text_decoding import read_text
    from tracing.inspection.tuned_lens.data import own_samples, token_chunks

    path = folder / CHUNKS_FILE
    if path.is_file():
        return json.loads(path.read_text())
    if config.text_file:
        decoded = read_text(Path(config.text_file).read_bytes())
        if decoded.text is None:
            raise ValueError(f"{config.text_file} is not readable text (byte {decoded.bad_offset}).")
        texts = [decoded.text]
    else:
        texts = own_samples(loaded, config.samples, config.sample_tokens)
    chunks = token_chunks(loaded.tokenizer, texts, config.chunk)
    path.write_text(json.dumps(chunks))
    return chunks


def run_lens_job(config: LensJobConfig, store: JobStore | None, should_stop) -> dict:
    """Trains (or resumes) the job's lens in this process; returns the finished row's fields. Raises
    `LensStopped` (after writing the checkpoint) when ``should_stop()`` says so between steps."""
    import torch

    from model_zoo import load_model
    from tracing.inspection.tuned_lens.data import split_heldout
    from tracing.inspection.tuned_lens.evaluate import lens_report
    from tracing.inspection.tuned_lens.lens import lens_folder, new_lens, save_lens
    from tracing.inspection.tuned_lens.training import lens_optimizer, train_lens

    job_id = config.job_id
    folder = job_dir(job_id) if job_id is not None else Path(config.store or ".")
    report = store if store is not None and job_id is not None else None
    if report:
        report.update(job_id, phase=f"loading {config.model}")
    loaded = load_model(config.model, device=config.device or None)
    if report:
        report.update(job_id, phase="reading the text")
    train, heldout = split_heldout(job_chunks(loaded, config, folder), config.heldout)
    lens, checkpoint = new_lens(loaded), folder / CHECKPOINT_FILE
    optimizer = lens_optimizer(lens, config.lr)
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=True)
        lens.load_state_dict(saved["lens"])
        optimizer.load_state_dict(saved["optimizer"])
        lens.trained = dict(saved["trained"])
        if report:
            report.forget_after(job_id, lens.trained["steps"])

    def keep() -> None:
        state = {"lens": lens.state_dict(), "optimizer": optimizer.state_dict(), "trained": lens.trained}
        torch.save(state, checkpoint.with_suffix(".tmp"))
        checkpoint.with_suffix(".tmp").replace(checkpoint)

    def on_step(result) -> None:
        if report:
            seconds = (report.get(job_id).train_seconds or 0.0) + result.seconds
            report.update(job_id, step=result.step, tokens=lens.trained["tokens"], train_seconds=seconds)
            report.add_metrics(job_id, result.step, {"kl": result.loss, "tokens_per_s": result.tokens / result.seconds})
        if result.step % CHECKPOINT_EVERY == 0:
            keep()

    if report:
        report.update(job_id, phase="training", total_steps=config.steps)
    reached = train_lens(loaded, lens, optimizer, train, config.steps, on_step, should_stop)
    keep()
    if reached < config.steps:
        raise LensStopped(f"stopped at step {reached} of {config.steps}; resume goes on from there")
    if report:
        report.update(job_id, phase="measuring on held-out text")
    measured = lens_report(loaded, lens, heldout)
    (folder / REPORT_FILE).write_text(json.dumps(measured.to_dict()))
    saved = save_lens(lens, lens_folder(loaded))
    return {"result": {"lens": str(saved), "report": measured.to_dict()}}
