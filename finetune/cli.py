"""Command line: ``python -m finetune validate FILE``, ``train --config FILE``, ``export ADAPTER`` and
``heldout JOB`` (a job's held-out split written for ``python -m tracing evaluate --finetune-job JOB``).

``validate`` exits 0 and prints a summary when the file is usable, 2 with the list of problems otherwise.
``train`` runs one job in this process (also under ``accelerate launch``), recording it in the job store:
the job named in the config file, or a new one.
"""

from __future__ import annotations

import argparse
import logging
import sys

from model_zoo.kinds import TASK_KINDS

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _validate(args) -> int:
    from datafiles.rows import load_file
    from finetune.mapping import ColumnMapping
    from finetune.validation import check_data

    tokenizer = max_context = None
    if args.model:
        from model_zoo import ModelLoadError, load_model

        try:
            loaded = load_model(args.model, device="cpu")
        except ModelLoadError as exc:
            print(f"cannot check token lengths: {exc}", file=sys.stderr)
        else:
            tokenizer, max_context = loaded.tokenizer, loaded.max_context
    mapping = None
    if args.style:
        columns = dict(item.split("=", 1) for item in args.column or [])
        mapping = ColumnMapping(args.style, columns)
    report = check_data(
        load_file(args.file),
        mapping,
        task=args.task,
        tokenizer=tokenizer,
        max_context=max_context,
        max_length=args.max_length,
    )
    if report.ok:
        print(report.summary())
        return EXIT_OK
    for note in report.notes():
        print(note)
    print(f"{len(report.problems)} problem(s):")
    for problem in report.problems:
        print(f"  {problem}")
    return EXIT_BAD_INPUT


def _train(args) -> int:
    from finetune.config import TrainConfig
    from finetune.launcher import device_key
    from finetune.train import StopRequested, train
    from finetune.training_store import TrainingJobStore
    from jobs.lifecycle import run_as_job

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = TrainConfig.load(args.config)
    except (OSError, ValueError, TypeError) as exc:
        print(f"cannot read config {args.config}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if problems := config.problems():
        print("bad settings: " + "; ".join(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    main = _rank() == 0
    store = TrainingJobStore(config.store or None)
    device = device_key(config)
    if config.job_id is None and main:
        config.job_id = store.create_job(name=config.name or "cli", device=device, config=config.to_dict())
    stopping = {"asked": False}

    def work() -> dict:
        result = train(config, store, config.job_id, stop_flag=lambda: stopping["asked"])
        if main:
            print(f"job {config.job_id} succeeded: adapter {result.get('adapter_id')}")
        return {"result": result, "adapter_id": result.get("adapter_id"), "adapter_path": result.get("adapter_path")}

    try:
        return run_as_job(
            store,
            config.job_id,
            work,
            on_term=lambda: stopping.update(asked=True),
            grace_s=args.grace,
            main=main,
            device=device,
            stopped=(StopRequested,),
        )
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT


def _export(args) -> int:
    from pathlib import Path

    from finetune.export import adapter_zip, merge_and_save
    from model_zoo import ModelLoadError
    from model_zoo.catalog import resolve

    try:
        if args.zip:
            entry = resolve(args.adapter)
            if entry.source != "adapter":
                raise ValueError(f"{args.adapter!r} is not a registered adapter")
            Path(args.zip).write_bytes(adapter_zip(entry.path))
            print(f"adapter {args.adapter} zipped to {args.zip}")
        else:
            print(f"merged model saved to {merge_and_save(args.adapter, args.out or None)}")
    except (ModelLoadError, ValueError, KeyError, OSError) as exc:
        print(f"cannot export {args.adapter}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _heldout(args) -> int:
    from finetune.heldout import write_heldout
    from jobs.store import JobStore

    job = JobStore(args.store or None).get(args.job)
    if job is None:
        print(f"no job {args.job} in the job store", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        print(f"held-out split of job {args.job} written to {write_heldout(job.id, job.config)}")
    except ValueError as exc:
        print(f"cannot read the held-out split of job {args.job}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m finetune", description="Momentscope fine-tuning")
    sub = top.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="check a data file; exit 0 if usable, 2 listing problems")
    val.add_argument("file")
    val.add_argument("--task", choices=list(TASK_KINDS))
    val.add_argument("--model", default="", help="also check token lengths against this model's context")
    val.add_argument("--max-length", type=int, default=512)
    val.add_argument("--style", choices=["prompt-response", "messages", "text", "text-label"])
    val.add_argument("--column", action="append", help="ROLE=COLUMN, e.g. prompt=question (with --style)")
    val.set_defaults(run=_validate)
    tr = sub.add_parser("train", help="run one training job (also under `accelerate launch`)")
    tr.add_argument("--config", required=True, help="a TrainConfig JSON file")
    tr.add_argument("--grace", type=float, default=15.0, help="seconds between SIGTERM and a forced end")
    tr.set_defaults(run=_train)
    ex = sub.add_parser("export", help="merge an adapter into its base as a plain transformers folder, or zip it")
    ex.add_argument("adapter", help="the adapter's model id, e.g. smollm2-135m-instruct+addition-job1")
    ex.add_argument("--out", default="", help="the merged model's folder (default <data home>/merged/<id>)")
    ex.add_argument("--zip", default="", help="write the adapter folder as this zip file instead of merging")
    ex.set_defaults(run=_export)
    ho = sub.add_parser("heldout", help="write a job's held-out split to its folder, for an evaluation to read")
    ho.add_argument("job", type=int, help="the fine-tune job's id")
    ho.add_argument("--store", default="", help="the job store file (default <data home>/jobs/jobs.sqlite)")
    ho.set_defaults(run=_heldout)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
