"""``python -m tracing contributions | ablate | patch``: interventions at one moment of a saved trace.

Each reads a trace file, loads the model that made it (its adapter too) and prints a table; ``--json``
writes the result (`tracing.inspection.interventions.results`) to a file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tracing.cli import options
from tracing.cli.options import Subcommand, UsageError, checked_moment, comma_separated, quoted, read_trace
from tracing.core.token_text import readable_pieces


def add_moment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace file written by `run` (or `branch`)")
    parser.add_argument("--moment", type=int, required=True, help="the moment to look into")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result to this JSON file")


def add_contrast_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contrast", default=None, help="a runner-up token's text: explain chosen minus it")


def _open(args: argparse.Namespace):
    trace = read_trace(args.file)
    moment = checked_moment(trace, args.moment)
    return trace, moment, options.load_model(trace.identity.name, args.device)


def _contrast_id(loaded, text: str | None) -> int | None:
    from tracing.experiments.branch import token_ids_for

    return None if text is None else token_ids_for(loaded.tokenizer, text, single=True)[0]


def _write_json(args: argparse.Namespace, result) -> None:
    from tracing.inspection.interventions import to_json

    if args.json is not None:
        args.json.write_text(to_json(result), encoding="utf-8")
        print(f"wrote {args.json}")


def _token(trace, moment: int, text: str) -> str:
    return quoted(trace.candidate_pieces(moment, [text])[0].marked, 18)


# --- contributions ----------------------------------------------------------------------------------------


def add_contributions_arguments(parser: argparse.ArgumentParser) -> None:
    add_moment_arguments(parser)
    add_contrast_argument(parser)
    parser.add_argument("--top", type=int, default=12, help="how many of the largest parts to list (default 12)")


def run_contributions(args: argparse.Namespace) -> int:
    from tracing.inspection.interventions import contributions

    trace, moment, loaded = _open(args)
    result = contributions(loaded, trace, moment, _contrast_id(loaded, args.contrast))
    what = f"logit of {_token(trace, moment, result.target_token)}"
    if result.contrast_token is not None:
        what += f" minus logit of {_token(trace, moment, result.contrast_token)}"
    lines = [
        f"moment {moment}: {what}",
        f"model {result.logit:+.4f}   sum of parts {result.total:+.4f}   (final norm frozen at 1/RMS "
        f"{result.norm_scale:.4f})",
        f"embeddings {result.embeddings:+.4f}   heads {float(result.heads.sum()):+.4f}   "
        f"MLPs {float(result.mlps.sum()):+.4f}",
        "",
        f"{'part':<14} {'contribution':>12}",
    ]
    lines += [f"{name:<14} {value:>+12.4f}" for name, value in result.ranked(args.top)]
    print("\n".join(lines))
    _write_json(args, result)
    return 0


# --- ablate -----------------------------------------------------------------------------------------------


def _head(text: str) -> tuple[int, int]:
    try:
        layer, head = (int(part) for part in text.split("."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAYER.HEAD such as 3.4, got {text!r}") from None
    return layer, head


_positions = comma_separated(int)


def add_ablate_arguments(parser: argparse.ArgumentParser) -> None:
    add_moment_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--head", type=_head, help="ablate one head, LAYER.HEAD (e.g. 3.4)")
    what.add_argument("--attention", type=int, metavar="LAYER", help="ablate every head of a layer")
    what.add_argument("--mlp", type=int, metavar="LAYER", help="ablate a layer's MLP")
    what.add_argument("--knockout", type=_positions, metavar="POSITIONS", help="block attention to positions 3,4,7")
    what.add_argument("--every-head", action="store_true", help="ablate every head and MLP in turn (a sweep)")
    parser.add_argument("--layers", type=_positions, default=None, help="the knockout's layers (default: all)")
    parser.add_argument("--mean", action="store_true", help="mean ablation (default: zero)")
    parser.add_argument("--all-positions", action="store_true", help="ablate at every position, not the moment's only")
    parser.add_argument("--top-k", type=int, default=8, help="the new top tokens to show (default 8)")
    parser.add_argument("--continue", dest="continue_tokens", type=int, default=None, metavar="N",
                        help="decode N tokens on from the moment under the intervention")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="with --continue: the branch's trace file")


def _intervention(args: argparse.Namespace):
    from tracing.inspection.interventions import Ablation, Knockout

    method, scope = ("mean" if args.mean else "zero"), ("all" if args.all_positions else "moment")
    if args.knockout is not None:
        if args.mean or args.all_positions:
            raise UsageError("--mean and --all-positions are for ablations, not for --knockout.")
        return Knockout(args.knockout, args.layers)
    if args.layers is not None:
        raise UsageError("--layers goes with --knockout.")
    if args.head is not None:
        return Ablation("head", args.head[0], args.head[1], method, scope)
    if args.attention is not None:
        return Ablation("attention", args.attention, None, method, scope)
    return Ablation("mlp", args.mlp, None, method, scope)


def run_ablate(args: argparse.Namespace) -> int:
    from tracing.inspection.interventions import ablation_sweep, continue_under, intervene

    if (args.continue_tokens is None) != (args.out is None):
        raise UsageError("--continue N and --out FILE go together.")
    if args.every_head:
        if args.continue_tokens is not None or args.layers is not None:
            raise UsageError("--every-head is a sweep: it takes neither --continue nor --layers.")
        trace, moment, loaded = _open(args)
        sweep = ablation_sweep(loaded, trace, moment, "mean" if args.mean else "zero",
                               "all" if args.all_positions else "moment")  # fmt: skip
        print(format_sweep(trace, sweep, args.top_k))
        _write_json(args, sweep)
        return 0
    intervention = _intervention(args)
    trace, moment, loaded = _open(args)
    result = intervene(loaded, trace, moment, intervention, args.top_k)
    token = _token(trace, moment, result.target_token)
    top = trace.candidate_pieces(moment, result.top_tokens)
    lines = [
        f"moment {moment}, {result.label}",
        f"{token}: log p {result.clean_log_prob:+.4f} -> {result.log_prob:+.4f} (change {result.delta:+.4f}), "
        f"rank {result.clean_rank} -> {result.rank}",
        "new top: " + "  ".join(f"{quoted(p.marked, 14)} {q:.3f}" for p, q in zip(top, result.top_probs, strict=True)),
    ]
    print("\n".join(lines))
    _write_json(args, result)
    if args.continue_tokens is not None:
        from dataclasses import replace

        if args.continue_tokens < 1:
            raise UsageError("--continue must be at least 1 token.")
        settings = replace(trace.settings, max_new_tokens=moment + args.continue_tokens)
        child = continue_under(loaded, trace, moment, intervention, settings)
        print(f"wrote {child.save(args.out)}: decoded on under the intervention")
        print(f"original  {trace.text!r}")
        print(f"branch    {child.text!r}")
    return 0


def format_sweep(trace, sweep, count: int) -> str:
    deltas = [(f"head {layer}.{head}", float(d)) for (layer, head), d in np.ndenumerate(sweep.head_deltas)]
    deltas += [(f"MLP {layer}", float(d)) for layer, d in enumerate(sweep.mlp_deltas)]
    deltas.sort(key=lambda item: item[1])
    token = _token(trace, sweep.moment_index, sweep.target_token)
    lines = [
        f"moment {sweep.moment_index}: {sweep.method}-ablating each head and MLP alone "
        f"({'every position' if sweep.scope == 'all' else 'at the moment'}), log p of {token} "
        f"{sweep.clean_log_prob:+.4f}; {sweep.seconds:.1f} s",
        "",
        f"{'component':<12} {'change in log p':>16}",
    ]
    return "\n".join(lines + [f"{name:<12} {d:>+16.4f}" for name, d in deltas[:count]])


# --- patch ------------------------------------------------------------------------------------------------


def add_patch_arguments(parser: argparse.ArgumentParser) -> None:
    add_moment_arguments(parser)
    parser.add_argument("--corrupt", required=True, help="the prompt edited: as many tokens, some changed")
    add_contrast_argument(parser)
    parser.add_argument("--layers", type=_positions, default=None, help="layers to patch (default: all)")
    parser.add_argument("--positions", type=_positions, default=None,
                        help="positions to patch (default: every one from the first edited)")  # fmt: skip
    parser.add_argument("--top", type=int, default=10, help="how many of the most restoring sites to list")


def run_patch(args: argparse.Namespace) -> int:
    from tracing.inspection.interventions import patch_moment

    trace, moment, loaded = _open(args)
    result = patch_moment(loaded, trace, moment, args.corrupt, _contrast_id(loaded, args.contrast),
                          args.layers, args.positions)  # fmt: skip
    labels = [piece.marked for piece in readable_pieces(result.clean_tokens)]
    edited = ", ".join(f"{p} {quoted(labels[p], 12)}" for p in result.changed)
    lines = [
        f"moment {moment}: edited positions {edited}",
        f"score clean {result.clean_metric:+.4f}, corrupted {result.corrupted_metric:+.4f}; {result.seconds:.1f} s",
        "",
        f"{'layer':>5} {'position':>8} {'token':<14} {'restored':>9}",
    ]
    restored = result.restored
    order = np.argsort(-np.nan_to_num(restored, nan=-np.inf), axis=None)[: args.top]
    for row, column in zip(*np.unravel_index(order, restored.shape), strict=True):
        position = int(result.positions[column])
        lines.append(
            f"{int(result.layers[row]):>5} {position:>8} {quoted(labels[position], 14):<14} {restored[row, column]:>9.1%}"
        )
    print("\n".join(lines))
    _write_json(args, result)
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "contributions": Subcommand(
        "each head's and MLP's direct contribution to a moment's logit", add_contributions_arguments, run_contributions
    ),
    "ablate": Subcommand(
        "remove a head, a layer's attention or an MLP (or knock out attention) at a moment",
        add_ablate_arguments,
        run_ablate,
    ),
    "patch": Subcommand(
        "patch the clean residual stream into an edited prompt's run, layer by position", add_patch_arguments, run_patch
    ),
}
