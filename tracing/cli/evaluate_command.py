"""``python -m tracing evaluate``: a question set through one model or two (base and adapter), in this
process; or, with ``--config``, an evaluation job of the job store (what the Evaluate page starts). Both run
under ``accelerate launch`` too, the questions split over the processes."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from tracing.cli.options import Subcommand, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracing.experiments.evaluation import EvaluationSettings

    defaults = EvaluationSettings()
    parser.add_argument("--config", type=Path, default=None, help="run the evaluation job this file describes")
    parser.add_argument("--questions", default="", help="CSV, JSONL or JSON: question, answer[, reference]")
    parser.add_argument("--finetune-job", type=int, default=None, help="or: this fine-tune job's held-out split")
    parser.add_argument("--model", default="", help="the model (catalog id, hub id or folder)")
    parser.add_argument("--adapter", default="", help="an adapter of the model, evaluated beside it")
    parser.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    parser.add_argument("--pattern", default=defaults.answer_pattern, help="regex whose last match is the answer")
    parser.add_argument("--no-last-number", action="store_true", help="no answer when the pattern does not match")
    parser.add_argument("--paths", type=int, default=0, help="also sample N paths per question (2 to 64)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the first path's seed")
    parser.add_argument("--temperature", type=float, default=defaults.temperature)
    parser.add_argument("--top-p", type=float, default=defaults.top_p)
    parser.add_argument("--device", default="", help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--out", type=Path, default=None, help="results file to write (.json)")
    parser.add_argument("--csv", type=Path, default=None, help="the results table as CSV")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds between SIGTERM and a forced end")


def config_from_args(args: argparse.Namespace):
    from tracing.experiments.evaluation import EvaluationSettings
    from tracing.experiments.evaluation_job import EvaluationJobConfig

    settings = EvaluationSettings(
        max_new_tokens=args.max_new_tokens,
        answer_pattern=args.pattern,
        last_number=not args.no_last_number,
        paths=args.paths,
        seed=args.seed,
        temperature=args.temperature,
        top_p=args.top_p,
    )
    models = [m for m in (args.model, args.adapter) if m]
    config = EvaluationJobConfig(models, args.questions, args.finetune_job, asdict(settings), args.device)
    if problems := config.problems():
        raise UsageError("; ".join(problems))
    return config


def summary(evaluation) -> str:
    lines = []
    for run in evaluation.runs:
        low, high = run.interval()
        lines.append(
            f"{run.name}: {run.correct}/{len(run.results)} correct, accuracy {run.accuracy:.1%} "
            f"(95% interval {low:.1%} to {high:.1%}), {run.seconds:.1f} s"
        )
    if len(evaluation.runs) == 2:
        rows = evaluation.rows()
        lines.append(f"fixed by the adapter: {sum(r['fixed'] for r in rows)}, broken: {sum(r['broken'] for r in rows)}")
    return "\n".join(lines)


def _write(evaluation, args) -> None:
    if args.out is not None:
        print(f"wrote {evaluation.save(args.out)}")
    if args.csv is not None:
        args.csv.write_text(evaluation.csv_text(), encoding="utf-8")
        print(f"wrote {args.csv}")


def run(args: argparse.Namespace) -> int:
    if args.config is not None:
        return run_job(args)
    from tracing.experiments.evaluation_job import StopFlag, run_evaluation

    evaluation = run_evaluation(config_from_args(args), None, StopFlag(None, None))
    if evaluation is not None:
        print(summary(evaluation))
        _write(evaluation, args)
    return 0


def run_job(args: argparse.Namespace) -> int:
    """One evaluation job of the store: its status, progress, stop and results file (main process only)."""
    from jobs.lifecycle import run_as_job
    from jobs.store import JobStore
    from tracing.experiments.evaluate_questions import Stopped
    from tracing.experiments.evaluation_job import EvaluationJobConfig, StopFlag, results_path, run_evaluation

    try:
        config = EvaluationJobConfig.load(args.config)
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot read the job file {args.config}: {exc}") from exc
    if problems := config.problems():
        raise UsageError("; ".join(problems))
    import os

    main = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
    store = JobStore(config.store or None)
    stop = StopFlag(store, config.job_id)

    def work() -> dict | None:
        evaluation = run_evaluation(config, store, stop)
        if evaluation is None:
            return None
        path = evaluation.save(results_path(config.job_id))
        print(summary(evaluation))
        models = {r.name: {"accuracy": r.accuracy, "interval": list(r.interval())} for r in evaluation.runs}
        return {"result": {"results_file": str(path), "models": models}}

    try:
        return run_as_job(
            store,
            config.job_id,
            work,
            on_term=lambda: setattr(stop, "asked", True),
            grace_s=args.grace,
            main=main,
            stopped=(Stopped,),
        )
    except LookupError as exc:
        raise UsageError(str(exc)) from exc


SUBCOMMANDS: dict[str, Subcommand] = {
    "evaluate": Subcommand(
        "a question set with known answers through a model (and an adapter): accuracy, where each went wrong",
        add_arguments,
        run,
    ),
}
