"""``python -m tracing lens train | eval``: train a tuned lens for a model as a job of the job store (in this
process, or started in the background), and measure the saved lens against the logit lens on held-out text
(``--json`` prints the report)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tracing.cli import options
from tracing.cli.options import Subcommand, UsageError


def add_lens_arguments(parser: argparse.ArgumentParser) -> None:
    from tracing.experiments.tuned_lens_job import LensJobConfig

    defaults = LensJobConfig()
    parser.add_argument("action", choices=("train", "eval"), help="train a lens, or measure the saved one")
    parser.add_argument("--model", default="", help="catalog id (an adapter's id too), hub id or folder")
    parser.add_argument("--text", type=Path, default=None, help="text to train on (train) or to measure on (eval)")
    parser.add_argument("--samples", type=int, default=0, help="train: on this many of the model's own samples")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"train: steps (default {defaults.steps})")
    parser.add_argument("--chunk", type=int, default=defaults.chunk, help=f"tokens a step (default {defaults.chunk})")
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"train: Adam's step size ({defaults.lr})")
    parser.add_argument("--limit", type=int, default=8, help="eval: chunks of the text to read (default 8)")
    parser.add_argument("--config", type=Path, default=None, help="train: run the lens job this file describes")
    parser.add_argument("--background", action="store_true", help="train: start the job as its own process")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps (default cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_lens(args: argparse.Namespace) -> int:
    return run_train(args) if args.action == "train" else run_eval(args)


def run_train(args: argparse.Namespace) -> int:
    from jobs.lifecycle import run_as_job
    from jobs.store import JobStore
    from tracing.experiments import tuned_lens_job as lens_job

    store = JobStore(None)
    if args.config is not None:
        try:
            config = lens_job.LensJobConfig.load(args.config)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"cannot read the job file {args.config}: {exc}") from exc
        store = JobStore(config.store or None)
    else:
        text = str(args.text) if args.text else ""
        config = lens_job.LensJobConfig(args.model, text, args.samples, steps=args.steps, chunk=args.chunk, lr=args.lr,
                               device=args.device)  # fmt: skip
        if problems := config.problems():
            raise UsageError("; ".join(problems))
        if args.background:
            job_id = lens_job.launch_lens_training(config, store)
            print(json.dumps({"job_id": job_id}) if args.json else f"started tuned-lens job {job_id}")
            return 0
        lens_job.record_lens_job(config, store)
    asked = [False]

    def should_stop() -> bool:
        asked[0] = asked[0] or store.stop_requested(config.job_id)
        return asked[0]

    def work() -> dict:
        fields = lens_job.run_lens_job(config, store, should_stop)
        print(json.dumps(fields["result"]) if args.json else f"saved {fields['result']['lens']}")
        return fields

    return run_as_job(store, config.job_id, work, on_term=lambda: asked.__setitem__(0, True), grace_s=30.0,
                      stopped=(lens_job.LensStopped,))  # fmt: skip


def format_report(report) -> str:
    lines = [f"{report.model}: {report.tokens} held-out tokens; lens trained {report.trained.get('steps', 0)} steps",
             f"{'layer':<12} {'KL logit':>9} {'KL tuned':>9} {'top1 logit':>11} {'top1 tuned':>11}"]  # fmt: skip
    rows = zip(report.layer_names, report.logit_kl, report.tuned_kl, report.logit_top1, report.tuned_top1, strict=True)
    lines += [f"{name:<12} {a:>9.3f} {b:>9.3f} {c:>11.3f} {d:>11.3f}" for name, a, b, c, d in rows]
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    from datafiles.text_decoding import read_text
    from tracing.inspection.tuned_lens.data import token_chunks
    from tracing.inspection.tuned_lens.evaluate import lens_report
    from tracing.inspection.tuned_lens.lens import find_lens

    if not args.model or args.text is None:
        raise UsageError("lens eval needs --model and --text (held-out text the lens was not trained on).")
    if not args.text.is_file():
        raise UsageError(f"No such text file: {args.text}")
    decoded = read_text(args.text.read_bytes())
    if decoded.text is None:
        raise UsageError(f"{args.text} is not readable text (byte {decoded.bad_offset}).")
    loaded = options.load_model(args.model, args.device)
    lens = find_lens(loaded)
    if lens is None:
        raise UsageError(f"No tuned lens is trained for '{loaded.identity.name}': run `python -m tracing lens train`.")
    report = lens_report(loaded, lens, token_chunks(loaded.tokenizer, [decoded.text], args.chunk)[: args.limit])
    print(json.dumps(report.to_dict()) if args.json else format_report(report))
    return 0


SUBCOMMANDS = {
    "lens": Subcommand(
        "train a tuned lens for a model (a job), or measure it against the logit lens", add_lens_arguments, run_lens
    ),  # fmt: skip
}
