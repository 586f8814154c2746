"""``python -m tracing run | show | export-html``: record a trace, print it as a table, export it as HTML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracing.cli import options
from tracing.cli.options import (
    Subcommand,
    add_decoding_arguments,
    prompt_text,
    quoted,
    read_trace,
    settings_from_args,
)
from tracing.core.token_text import CONTEXT_TOKENS, readable_pieces
from tracing.core.trace import Trace

# --- run ------------------------------------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="catalog id, hub id or model folder")
    parser.add_argument(
        "--prompt", required=True, help="the user's text (the chat template is applied for chat models)"
    )
    add_decoding_arguments(parser, max_new_tokens=64)
    parser.add_argument("--out", required=True, type=Path, help="trace file to write (.safetensors)")


def run_run(args: argparse.Namespace) -> int:
    from tracing.core.decode import trace_generation

    prompt = prompt_text(args)
    settings = settings_from_args(args)
    loaded = options.load_model(args.model, args.device)
    progress = sys.stderr.isatty()
    recent: list[str] = []

    def echo(moment) -> None:
        # A character split over tokens is printed once its last byte has come.
        recent[:] = [*recent[-CONTEXT_TOKENS:], moment.token]
        print(readable_pieces(recent)[-1].joined, end="", file=sys.stderr, flush=True)

    trace = trace_generation(loaded, prompt, settings, on_moment=echo if progress else None)
    if progress:
        print(file=sys.stderr)
    path = trace.save(args.out)
    print(f"wrote {path}: {len(trace.moments)} moments, stopped by {trace.stop_reason}, {trace.total_seconds:.2f} s")
    print(trace.text)
    return 0


# --- show -----------------------------------------------------------------------------------------------


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace file written by `run`")


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


# --- export-html ----------------------------------------------------------------------------------------


def add_export_html_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace file written by `run`")
    parser.add_argument("--out", required=True, type=Path, help="the HTML file to write")


def run_export_html(args: argparse.Namespace) -> int:
    from tracing.export.html import write_html

    path = write_html(read_trace(args.file), args.out)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, self-contained)")
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "run": Subcommand("generate from a prompt and save the trace", add_run_arguments, run_run),
    "show": Subcommand("print a trace's moments as a table", add_show_arguments, run_show),
    "export-html": Subcommand("write a trace as one offline HTML page", add_export_html_arguments, run_export_html),
}
