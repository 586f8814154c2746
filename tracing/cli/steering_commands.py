"""``python -m tracing steer``: make (or load) a steering vector and continue a saved trace under it from a
moment, or sweep strengths there.

The vector comes from two prompt lists (``--positive`` / ``--negative``, each repeatable, or a file of one
prompt per line), a token (``--token``) or a saved vector (``--vector``, a name in the data home or a
``.safetensors`` path); ``--save NAME`` keeps a made vector. ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tracing.cli import options
from tracing.cli.options import Subcommand, UsageError, checked_moment, comma_separated, read_trace


def _prompts(values: list[str] | None, file: Path | None, side: str) -> list[str]:
    prompts = list(values or [])
    if file is not None:
        if not file.is_file():
            raise UsageError(f"No such --{side}-file: {file}")
        prompts += [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return prompts


def add_steer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace file written by `run` (or `branch`)")
    parser.add_argument("--moment", type=int, default=0, help="the moment to continue from (default 0)")
    source = parser.add_argument_group("the vector (two prompt lists, a token, or a saved vector)")
    source.add_argument("--positive", action="append", help="a prompt of the side to steer towards (repeatable)")
    source.add_argument("--negative", action="append", help="a prompt of the side to steer away from (repeatable)")
    source.add_argument("--positive-file", type=Path, default=None, help="positive prompts, one per line")
    source.add_argument("--negative-file", type=Path, default=None, help="negative prompts, one per line")
    source.add_argument("--token", default=None, help="a single token's text: its unembedding row")
    source.add_argument("--vector", default=None, help="a saved vector's name, or a .safetensors file")
    source.add_argument("--layer", type=int, default=None, help="the layer whose output the vector is read at")
    source.add_argument("--reduce", choices=("last", "mean"), default="last",
                        help="each prompt's last token, or the mean over its tokens (default last)")  # fmt: skip
    source.add_argument("--name", default="steering", help="the made vector's name (default 'steering')")
    source.add_argument("--save", action="store_true", help="keep the made vector in the data home")
    parser.add_argument("--strength", type=float, default=4.0, help="what the vector is multiplied by (default 4)")
    parser.add_argument(
        "--layers", type=comma_separated(int, "10,12"), default=(), help="the layers to add it at (default: --layer)"
    )
    parser.add_argument("--prompt-too", action="store_true", help="steer the prompt's positions too")
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="the steered trace's length (default: the trace's)"
    )
    parser.add_argument("--sweep", type=comma_separated(float, "-8,4,8"), default=None, metavar="STRENGTHS",
                        help="also sweep these strengths (greedy, in one batch), e.g. --sweep=-8,-4,4,8")  # fmt: skip
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument(
        "--out", type=Path, default=None, help="the steered trace's file (default <file>.steered.safetensors)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _vector(args: argparse.Namespace, loaded):
    from tracing.inspection.steering.make import contrast_vector, token_vector
    from tracing.inspection.steering.vector import load_vector, read_vector_file, save_vector

    positive = _prompts(args.positive, args.positive_file, "positive")
    negative = _prompts(args.negative, args.negative_file, "negative")
    chosen = [bool(positive or negative), args.token is not None, args.vector is not None]
    if sum(chosen) != 1:
        raise UsageError("Give one vector source: --positive and --negative prompts, --token, or --vector.")
    if args.vector is not None:
        path = Path(args.vector)
        return read_vector_file(path) if path.suffix == ".safetensors" else load_vector(args.vector)
    if args.layer is None:
        raise UsageError("--layer is needed to make a vector: the layer whose output it is read at.")
    if args.token is not None:
        made = token_vector(loaded, args.name, args.token, args.layer)
    else:
        made = contrast_vector(loaded, args.name, positive, negative, args.layer, args.reduce)
    if args.save:
        save_vector(made)
    return made


def run_steer(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tracing.experiments.branch_tree import first_departure
    from tracing.inspection.steering.apply import Steering
    from tracing.inspection.steering.continuation import continue_steered
    from tracing.inspection.steering.sweep import steering_sweep

    trace = read_trace(args.file)
    moment = checked_moment(trace, args.moment)
    loaded = options.load_model(trace.identity.name, args.device)
    vector = _vector(args, loaded)
    steering = Steering(vector, args.strength, args.layers, "prompt" if args.prompt_too else "moment")
    total = args.max_new_tokens or len(trace.moments)
    steered = continue_steered(loaded, trace, moment, steering, replace(trace.settings, max_new_tokens=total))
    out = args.out or args.file.with_name(args.file.stem + ".steered.safetensors")
    steered.save(out)
    report = {"vector": vector.describe(), "steering": steering.to_dict(), "moment": moment,
              "first_departure": first_departure(trace, steered), "unsteered_text": trace.text,
              "steered_text": steered.text, "trace_file": str(out)}  # fmt: skip
    if args.sweep:
        sweep = steering_sweep(loaded, trace, moment, steering, args.sweep, max(total - moment, 1))
        texts = [loaded.tokenizer.decode(row.tolist(), skip_special_tokens=True) for row in sweep.token_ids]
        departures = sweep.first_departures()
        report["sweep"] = [
            {"strength": s, "first_departure": d, "text": t}
            for s, d, t in zip(sweep.strengths, departures, texts, strict=True)
        ]
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    print(f"vector '{vector.name}' at layer {vector.layer}: norm {vector.norm:.4f}")
    print(f"{steering.label}, from moment {moment}")
    print(f"unsteered: {trace.text!r}\nsteered:   {steered.text!r}")
    print(f"first departure: moment {report['first_departure']}")
    for row in report.get("sweep", []):
        print(f"  strength {row['strength']:+g}: departs at {row['first_departure']}  {row['text']!r}")
    print(f"wrote {out}")
    return 0


SUBCOMMANDS = {
    "steer": Subcommand(
        "continue a saved trace under a steering vector (from prompt lists, a token or a file)",
        add_steer_arguments,
        run_steer,
    ),
}
