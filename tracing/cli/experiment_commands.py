"""``python -m tracing compare | branch | consistency``: the experiments of the trace CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

from tracing.cli import options
from tracing.cli.options import (
    Subcommand,
    UsageError,
    add_decoding_arguments,
    checked_moment,
    prompt_text,
    quoted,
    read_trace,
    settings_from_args,
)

# --- compare --------------------------------------------------------------------------------------------


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-a", required=True, help="catalog id (an adapter's id too), hub id or folder")
    parser.add_argument("--model-b", required=True, help="the other model; the same id compares a model with itself")
    parser.add_argument("--prompt", required=True, help="the user's text (the chat template is applied)")
    parser.add_argument("--lead", choices=("a", "b"), default="a", help="which model decodes (default a)")
    parser.add_argument("--own-paths", action="store_true", help="also let the other model decode on its own")
    add_decoding_arguments(parser, max_new_tokens=32)
    parser.add_argument("--out", type=Path, default=None, help="comparison file to write (.zip)")


def format_comparison(comparison) -> str:
    """A per-moment table: both tokens, KL both ways, whether the greedy picks differ, and the split."""
    a, b = comparison.trace_a, comparison.trace_b
    lead = comparison.lead
    lines = [
        f"a       {a.identity.name}" + ("  (decodes)" if lead == "a" else "  (reads b's tokens)"),
        f"b       {b.identity.name}" + ("  (decodes)" if lead == "b" else "  (reads a's tokens)"),
        f"prompt  {a.prompt!r}",
        f"text    {comparison.trace(lead).text!r}",
        "",
        f"{'#':>4}  {'token':<16} {'p(a)':>7} {'p(b)':>7} {'KL(a||b)':>9} {'KL(b||a)':>9}  greedy",
    ]
    tokens = a.token_pieces()[a.prompt_len :]
    for d, ma, mb, token in zip(comparison.moments, a.moments, b.moments, tokens, strict=True):
        greedy = "differ" if d.greedy_differs else "same"
        lines.append(
            f"{d.index:>4}  {quoted(token.marked, 16):<16} {ma.prob:>7.4f} {mb.prob:>7.4f} "
            f"{d.kl_a_b:>9.5f} {d.kl_b_a:>9.5f}  {greedy}"
        )
    split = comparison.first_greedy_divergence
    lines += [
        "",
        f"mean KL(a||b) {comparison.kl_a_b.mean():.5f}, KL(b||a) {comparison.kl_b_a.mean():.5f} nats",
        "greedy choices agree at every moment" if split is None else _split_line(comparison, split),
    ]
    if comparison.own_path is not None:
        free = comparison.first_path_divergence
        lines.append(
            f"own paths: {comparison.follower}'s own generation {comparison.own_path.text!r} "
            + ("is the same" if free is None else f"parts from {lead}'s at moment {free}")
        )
    return "\n".join(lines)


def _split_line(comparison, split: int) -> str:
    # A side's greedy pick is the top of its own distribution, so its text is that side's top token.
    picks = []
    for side in ("a", "b"):
        trace = comparison.trace(side)
        picks.append(trace.candidate_pieces(split, trace.moments[split].top_tokens[:1])[0].marked)
    a, b = picks
    return f"greedy choices first part at moment {split}: a would pick '{a}', b would pick '{b}'"


def run_compare(args: argparse.Namespace) -> int:
    from tracing.experiments.compare import compare_traces

    prompt = prompt_text(args)
    settings = settings_from_args(args)
    loaded_a = options.load_model(args.model_a, args.device)
    loaded_b = loaded_a if args.model_b == args.model_a else options.load_model(args.model_b, args.device)
    comparison = compare_traces(loaded_a, loaded_b, prompt, settings, lead=args.lead, own_path=args.own_paths)
    print(format_comparison(comparison))
    if args.out is not None:
        print(f"wrote {comparison.save(args.out)}")
    return 0


# --- branch ---------------------------------------------------------------------------------------------


def add_branch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace file written by `run` (or by `branch`)")
    parser.add_argument("--moment", type=int, required=True, help="the moment whose token to replace")
    token = parser.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="the text to force there (all its tokens, in order)")
    token.add_argument("--token-id", type=int, help="one token id to force there")
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="length of the whole branch (default: the trace's)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--out", type=Path, required=True, help="the branch's trace file to write")


def run_branch(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tracing.experiments.branch import branch, token_ids_for
    from tracing.experiments.branch_tree import forced_change

    trace = read_trace(args.file)
    moment = checked_moment(trace, args.moment)
    if args.token is not None and args.token == "":
        raise UsageError("--token is empty: give the text to force (a leading space counts).")
    settings = trace.settings
    if args.max_new_tokens is not None:
        settings = replace(settings, max_new_tokens=args.max_new_tokens).validate()
    loaded = options.load_model(trace.identity.name, args.device)
    forced = [args.token_id] if args.token is None else token_ids_for(loaded.tokenizer, args.token)
    result = branch(loaded, trace, moment, forced, settings)
    path = result.save(args.out)
    forced, replaced = forced_change(result)
    print(
        f"wrote {path}: at moment {moment} forced {forced!r} instead of "
        f"{replaced!r}; {len(result.moments)} moments, stopped by {result.stop_reason}"
    )
    print(f"original  {trace.text!r}")
    print(f"branch    {result.text!r}")
    return 0


# --- consistency ----------------------------------------------------------------------------------------


def add_consistency_arguments(parser: argparse.ArgumentParser) -> None:
    from tracing.experiments.consistency import DEFAULT_ANSWER_PATTERN

    parser.add_argument("--model", required=True, help="catalog id (an adapter's id too), hub id or folder")
    parser.add_argument("--prompt", required=True, help="the question")
    parser.add_argument("-n", "--paths", type=int, default=5, help="how many paths to sample (default 5)")
    parser.add_argument(
        "--pattern",
        default=DEFAULT_ANSWER_PATTERN,
        help=f"regex whose last match (first group) is a path's answer (default {DEFAULT_ANSWER_PATTERN!r})",
    )
    add_decoding_arguments(parser, max_new_tokens=96)
    parser.add_argument("--out", type=Path, default=None, help="consistency file to write (.zip)")


def format_consistency(result) -> str:
    lines = [f"{'path':>4}  {'seed':>6}  {'answer':<12} text"]
    for i, (seed, answer, path) in enumerate(zip(result.seeds, result.answers, result.paths, strict=True)):
        lines.append(f"{i:>4}  {seed:>6}  {answer if answer is not None else '-':<12} {path.text!r}")
    lines += [
        "",
        f"majority answer {result.majority!r}, agreement {result.agreement:.0%} of {len(result.paths)} paths"
        if result.majority is not None
        else f"no path gave an answer matching {result.answer_pattern!r}",
    ]
    d = result.divergence
    if d is None:
        lines.append("every path generated the same tokens")
        return "\n".join(lines)
    tops = result.paths[0].candidate_pieces(d.moment, d.top_tokens[:6])
    top = "  ".join(f"{quoted(t.marked, 14)} {p:.3f}" for t, p in zip(tops, d.top_probs[:6], strict=False))
    lines += [f"paths first part at moment {d.moment}; the shared distribution there: {top}"]
    for i, (choice, path) in enumerate(zip(d.choices, result.paths, strict=True)):
        if choice.token is None:
            took = "had ended"
        else:
            token = path.candidate_pieces(d.moment, [choice.token])[0].marked
            took = f"took {quoted(token, 16)} (p {choice.prob:.3f})"
        lines.append(f"  path {i} {took}")
    return "\n".join(lines)


def run_consistency(args: argparse.Namespace) -> int:
    from datafiles.answers import compile_pattern
    from tracing.experiments.consistency import MAX_PATHS, consistency

    prompt = prompt_text(args)
    if not 2 <= args.paths <= MAX_PATHS:
        raise UsageError(f"-n must be from 2 to {MAX_PATHS} paths, got {args.paths}.")
    compile_pattern(args.pattern)
    args.sample = True  # consistency samples; the options only shape how
    settings = settings_from_args(args)
    loaded = options.load_model(args.model, args.device)
    result = consistency(loaded, prompt, args.paths, settings, answer_pattern=args.pattern)
    print(format_consistency(result))
    if args.out is not None:
        print(f"wrote {result.save(args.out)}")
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "compare": Subcommand(
        "one prompt through two models: per-moment KL and where they part", add_compare_arguments, run_compare
    ),
    "branch": Subcommand("force another token at a moment of a trace and decode on", add_branch_arguments, run_branch),
    "consistency": Subcommand(
        "sample several reasoning paths and compare their answers", add_consistency_arguments, run_consistency
    ),
}
