"""An evaluation as a job of its own: recorded in the job store (kind ``evaluate``), run in its own
process (``python -m tracing evaluate --config JOB.json``), with status, progress, Stop and a results file
that outlive the page. The same command runs under ``accelerate launch``: the questions are split over the
processes (`PartialState.split_between_processes`) and the main process gathers every share, writes the
results and reports to the store.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datafiles.answers import AnswerRule
from datafiles.rows import Problem
from jobs.launcher import heldout_path, job_dir, start_process
from jobs.store import JobStore
from tracing.experiments.evaluation import Evaluation, EvaluationSettings
from tracing.experiments.questions import QuestionSet, read_questions_file

KIND = "evaluate"
RESULTS_FILE = "evaluation.json"
QUESTIONS_FILE = "questions.json"
STOP_POLL_SECONDS = 0.5


@dataclass
class EvaluationJobConfig:
    """What one evaluation job runs: the questions (a file, or fine-tune job ``finetune_job``'s held-out
    split), one or two models (the base, then an adapter of it), and the settings."""

    models: list[str] = field(default_factory=list)
    questions_file: str = ""
    finetune_job: int | None = None
    settings: dict = field(default_factory=dict)
    device: str = ""
    name: str = ""
    job_id: int | None = None
    store: str = ""

    @property
    def evaluation_settings(self) -> EvaluationSettings:
        return EvaluationSettings(**self.settings)

    def problems(self) -> list[str]:
        found = []
        if not 1 <= len(self.models) <= 2:
            found.append("give one model, or two (a base and an adapter) to compare")
        if bool(self.questions_file) == (self.finetune_job is not None):
            found.append("give a questions file or a fine-tune job's held-out split (one of them)")
        try:
            found += self.evaluation_settings.problems()
        except TypeError as exc:
            found.append(f"unknown settings: {exc}")
        return found

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> EvaluationJobConfig:
        return cls(**json.loads(Path(path).read_text()))


def load_questions(config: EvaluationJobConfig) -> QuestionSet:
    """The job's questions: its file, or the held-out split its fine-tune job wrote to its folder (the Evaluate
    page writes it as it starts the evaluation; `python -m finetune heldout JOB` from the command line)."""
    settings = config.evaluation_settings
    rule = AnswerRule(settings.answer_pattern, settings.last_number)
    if config.questions_file:
        return read_questions_file(config.questions_file, rule)
    source = f"held-out split of job {config.finetune_job}"
    path = heldout_path(config.finetune_job)
    if not path.exists():
        advice = f"write it with `python -m finetune heldout {config.finetune_job}`"
        return QuestionSet(source, problems=[Problem(source, f"not written to {path}; {advice}")])
    found = read_questions_file(str(path), rule)
    found.source = source
    return found


def results_path(job_id: int) -> Path:
    return job_dir(job_id) / RESULTS_FILE


def launch_evaluation(config: EvaluationJobConfig, store: JobStore, *, python: str = sys.executable) -> int:
    """Records the job and starts its process; returns the job id. Raises ValueError for bad settings."""
    if problems := config.problems():
        raise ValueError("cannot start: " + "; ".join(problems))
    if config.questions_file:
        config.questions_file = str(Path(config.questions_file).resolve())
    device = config.device or _best_device()
    name = config.name or (Path(config.questions_file).stem if config.questions_file else f"job {config.finetune_job}")
    job_id = store.create_job(name=name, device=device, config=asdict(config), kind=KIND)
    folder = job_dir(job_id)
    config.job_id, config.store, config.name = job_id, str(store.path), name
    path = config.save(folder / "evaluate.json")
    store.update(job_id, config=asdict(config), log_path=str(folder / "evaluate.log"))
    start_process(store, job_id, ["-m", "tracing", "evaluate", "--config", str(path)], python=python)
    return job_id


def _best_device() -> str:
    from model_zoo.device import pick_device

    return pick_device(None).type


class StopFlag:
    """Whether the job was asked to stop (SIGTERM or the store's flag), read from the store at most every
    ``STOP_POLL_SECONDS`` (the decoding threads ask before every step)."""

    def __init__(self, store: JobStore | None, job_id: int | None) -> None:
        self.store, self.job_id = store, job_id
        self.asked = False
        self._checked = 0.0

    def __call__(self) -> bool:
        if self.asked or self.store is None or self.job_id is None:
            return self.asked
        now = time.monotonic()
        if now - self._checked >= STOP_POLL_SECONDS:
            self._checked = now
            self.asked = self.store.stop_requested(self.job_id)
        return self.asked


def run_evaluation(config: EvaluationJobConfig, store: JobStore | None, stop: StopFlag) -> Evaluation | None:
    """Runs the job in this process (one of several under ``accelerate launch``): returns the gathered
    evaluation on the main process, None on the others. Raises `Stopped` when asked to stop, ValueError
    for an unusable question set."""
    from accelerate import PartialState

    state = PartialState(cpu=config.device == "cpu")
    try:
        evaluation = _run_share(state, config, store, stop)
        state.wait_for_everyone()
        return evaluation
    finally:
        # Under `accelerate launch` a process that exits with its process group alive aborts in the group's
        # C++ threads ("terminate called without an active exception"), failing the whole launch.
        state.destroy_process_group()


def _run_share(state, config: EvaluationJobConfig, store: JobStore | None, stop: StopFlag) -> Evaluation | None:
    from accelerate.utils import gather_object

    from model_zoo import load_model
    from tracing.experiments.evaluate_questions import evaluate_model

    main = state.is_main_process
    report = store if main and store is not None and config.job_id else None
    if report:
        report.update(config.job_id, phase="reading questions")
    questions = load_questions(config)
    if not questions.ok:
        raise ValueError(questions.message() or f"{questions.source}: no questions")
    settings = config.evaluation_settings
    total = len(questions.questions) * len(config.models)
    folder = job_dir(config.job_id) if config.job_id else Path(os.environ.get("TMPDIR", "/tmp"))
    if report:
        report.update(config.job_id, total_steps=total)
        (folder / QUESTIONS_FILE).write_text(json.dumps(questions.to_dict(), ensure_ascii=False))
    runs = []
    device = "cpu" if config.device == "cpu" else str(state.device)
    for number, model_id in enumerate(config.models):
        if report:
            report.update(config.job_id, phase=f"loading {model_id}")
        loaded = load_model(model_id, device=device)
        if report:
            report.update(config.job_id, phase=f"answering with {model_id}")
        done_before = number * len(questions.questions)

        def progress(done: int, before: int = done_before) -> None:
            if report:  # the main process's share, times the processes: every share is about as long
                report.update(config.job_id, step=min(before + done * state.num_processes, total))

        with state.split_between_processes(questions.questions) as share:
            run = evaluate_model(
                loaded, share, settings, should_stop=stop, on_done=progress, trace_folder=folder / "traces"
            )
        if report:
            report.update(config.job_id, step=done_before + len(questions.questions))
        results = gather_object(run.results)
        run.results = sorted(results, key=lambda r: r.index)
        runs.append(run)
        del loaded
    if not main:
        return None
    info = {"processes": state.num_processes, "job_id": config.job_id}
    return Evaluation(questions.source, questions.questions, settings, runs, info)
