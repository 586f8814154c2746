"""``python -m tracing``: run, show and export traces from a terminal.

The CLI is a registry: `SUBCOMMANDS` maps a name to a `Subcommand` (its help line, a function that adds
its arguments to an argparse parser, and a function that runs it and returns an exit code). Adding a
subcommand (``compare``, ``branch``, ``attribute``...) is adding one entry.

Bad input ends with one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracing.cli_compare import subcommands as compare_subcommands
from tracing.token_text import CONTEXT_TOKENS, readable_pieces
from tracing.trace import MAX_NEW_TOKENS_LIMIT, DecodingSettings, Trace, load_trace

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input from the person at the terminal; the message is shown as it is."""


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- run ------------------------------------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="catalog id, hub id or model folder")
    parser.add_argument(
        "--prompt", required=True, help="the user's text (the chat template is applied for chat models)"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=64, help=f"tokens to generate, 1 to {MAX_NEW_TOKENS_LIMIT} (default 64)"
    )
    sampling = parser.add_argument_group("sampling (any of these turns sampling on; greedy otherwise)")
    sampling.add_argument("--temperature", type=float, default=None)
    sampling.add_argument("--top-p", type=float, default=None)
    sampling.add_argument("--top-k", type=int, default=None, help="0 turns it off")
    sampling.add_argument("--seed", type=int, default=None, help="makes a sampled trace reproducible")
    sampling.add_argument("--sample", action="store_true", help="sample with temperature 1 and no filters")
    parser.add_argument("--record-top-k", type=int, default=20, help="top tokens kept per moment (default 20)")
    parser.add_argument("--no-chat-template", action="store_true", help="feed the prompt as plain text")
    parser.add_argument("--ignore-eos", action="store_true", help="generate all max-new-tokens, past the end")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--out", required=True, type=Path, help="trace file to write (.safetensors)")


def settings_from_args(args: argparse.Namespace) -> DecodingSettings:
    sampling_options = (args.temperature, args.top_p, args.top_k, args.seed)
    settings = DecodingSettings(
        max_new_tokens=args.max_new_tokens,
        do_sample=args.sample or any(option is not None for option in sampling_options),
        temperature=1.0 if args.temperature is None else args.temperature,
        top_k=0 if args.top_k is None else args.top_k,
        top_p=1.0 if args.top_p is None else args.top_p,
        seed=args.seed,
        record_top_k=args.record_top_k,
        use_chat_template=not args.no_chat_template,
        stop_at_eos=not args.ignore_eos,
    )
    return settings.validate()


def load_model(model_id: str, device: str | None):
    """The zoo's loader (a module-level name, so tests can hand in a model already loaded)."""
    from model_zoo import load_model as zoo_load_model

    return zoo_load_model(model_id, device=device)


def run_run(args: argparse.Namespace) -> int:
    from tracing.decode import trace_generation

    if not args.prompt.strip():
        raise UsageError("The prompt is empty: give --prompt some text for the model to continue or answer.")
    settings = settings_from_args(args)
    loaded = load_model(args.model, args.device)
    progress = sys.stderr.isatty()
    recent: list[str] = []

    def echo(moment) -> None:
        # A character split over tokens is printed once its last byte has come.
        recent[:] = [*recent[-CONTEXT_TOKENS:], moment.token]
        print(readable_pieces(recent)[-1].joined, end="", file=sys.stderr, flush=True)

    trace = trace_generation(loaded, args.prompt, settings, on_moment=echo if progress else None)
    if progress:
        print(file=sys.stderr)
    path = trace.save(args.out)
    print(f"wrote {path}: {len(trace.moments)} moments, stopped by {trace.stop_reason}, {trace.total_seconds:.2f} s")
    print(trace.text)
    return 0


# --- show -----------------------------------------------------------------------------------------------


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace file written by `run`")


def quoted(token: str, width: int) -> str:
    text = f"'{token}'"
    return text if len(text) <= width else text[: width - 2] + "…'"


def format_trace(trace: Trace) -> str:
    """A readable table of a trace's moments, with a header naming what made it. Tokens are read in context:
    a character split over tokens shows on each, its part marked (``'小¹⁄₂'``)."""
    s = trace.settings
    mode = (
        f"sampling (temperature {s.temperature}, top-k {s.top_k or 'off'}, top-p {s.top_p}, seed {s.seed})"
        if s.do_sample
        else "greedy"
    )
    lines = [
        f"model   {trace.model_id}" + (f" + adapter {trace.adapter}" if trace.adapter else ""),
        f"prompt  {trace.prompt!r} ({trace.prompt_len} tokens rendered)",
        f"decode  {mode}; {len(trace.moments)} moments, stopped by {trace.stop_reason}",
        f"text    {trace.text!r}",
        "",
        f"{'#':>4}  {'token':<16} {'prob':>7} {'rank':>6} {'entropy':>8}  top-3",
    ]
    chosen = trace.token_pieces()[trace.prompt_len :]
    for m, piece in zip(trace.moments, chosen, strict=True):
        top = trace.candidate_pieces(m.index, m.top_tokens[:3])
        top3 = "  ".join(f"{quoted(t.marked, 14)} {p:.3f}" for t, p in zip(top, m.top_probs[:3], strict=False))
        token = quoted(piece.marked, 16)
        lines.append(f"{m.index:>4}  {token:<16} {m.prob:>7.4f} {m.rank:>6} {m.entropy:>8.3f}  {top3}")
    return "\n".join(lines)


def run_show(args: argparse.Namespace) -> int:
    print(format_trace(read_trace(args.file)))
    return 0


def read_trace(path: Path) -> Trace:
    if not path.exists():
        raise UsageError(f"No such trace file: {path}")
    return load_trace(path)


# --- export-html ----------------------------------------------------------------------------------------


def add_export_html_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace file written by `run`")
    parser.add_argument("--out", required=True, type=Path, help="the HTML file to write")


def run_export_html(args: argparse.Namespace) -> int:
    from tracing.export_html import write_html

    path = write_html(read_trace(args.file), args.out)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, self-contained)")
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "run": Subcommand("generate from a prompt and save the trace", add_run_arguments, run_run),
    "show": Subcommand("print a trace's moments as a table", add_show_arguments, run_show),
    "export-html": Subcommand("write a trace as one offline HTML page", add_export_html_arguments, run_export_html),
    **compare_subcommands(),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tracing", description="Record and inspect decoding traces.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, subcommand in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=subcommand.help, description=subcommand.help)
        subcommand.add_arguments(sub)
        sub.set_defaults(run=subcommand.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on unknown options
    from model_zoo import ModelLoadError

    try:
        return args.run(args)
    except (UsageError, ValueError, ModelLoadError) as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as exc:
        print(f"{parser.prog} {args.command}: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return USAGE_ERROR
