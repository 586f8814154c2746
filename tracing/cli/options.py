"""What every subcommand of ``python -m tracing`` shares: the registry entry type, the usage error, the one
set of decoding options (and the settings read from them), the model loader and the trace reader."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracing.core.trace import MAX_NEW_TOKENS_LIMIT, DecodingSettings, Trace, load_trace

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input from the person at the terminal; the message is shown as it is."""


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_decoding_arguments(parser: argparse.ArgumentParser, max_new_tokens: int) -> None:
    """The decoding options, under the same names in every subcommand (`settings_from_args` reads them)."""
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=max_new_tokens,
        help=f"tokens to generate, 1 to {MAX_NEW_TOKENS_LIMIT} (default {max_new_tokens})",
    )
    sampling = parser.add_argument_group("sampling (any of these turns sampling on; greedy otherwise)")
    sampling.add_argument("--temperature", type=float, default=None)
    sampling.add_argument("--top-p", type=float, default=None)
    sampling.add_argument("--top-k", type=int, default=None, help="0 turns it off")
    sampling.add_argument("--seed", type=int, default=None, help="makes sampling reproducible")
    sampling.add_argument("--sample", action="store_true", help="sample with temperature 1 and no filters")
    parser.add_argument("--record-top-k", type=int, default=20, help="top tokens kept per moment (default 20)")
    parser.add_argument("--no-chat-template", action="store_true", help="feed the prompt as plain text")
    parser.add_argument("--ignore-eos", action="store_true", help="generate all max-new-tokens, past the end")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")


def comma_separated(kind=int, example: str = "3,4,7"):
    """An argparse type reading ``3,4,7`` as a tuple of ``kind`` (a usage error names an example)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated numbers such as {example}, got {text!r}"
            ) from None

    return parse


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


def prompt_text(args: argparse.Namespace) -> str:
    if not args.prompt.strip():
        raise UsageError("The prompt is empty: give --prompt some text for the model to continue or answer.")
    return args.prompt


def load_model(model_id: str, device: str | None):
    """The zoo's loader (a module-level name, so tests can hand in a model already loaded)."""
    from model_zoo import load_model as zoo_load_model

    return zoo_load_model(model_id, device=device)


def read_trace(path: Path) -> Trace:
    if not path.exists():
        raise UsageError(f"No such trace file: {path}")
    return load_trace(path)


def quoted(token: str, width: int) -> str:
    text = f"'{token}'"
    return text if len(text) <= width else text[: width - 2] + "…'"


def checked_moment(trace: Trace, moment: int) -> int:
    """``--moment``, checked against the trace (a UsageError naming the moments there are)."""
    if not 0 <= moment < len(trace.moments):
        raise UsageError(
            f"--moment {moment} is not in this trace: it has moments 0 to {len(trace.moments) - 1}."
            if trace.moments
            else "This trace has no moments."
        )
    return moment
