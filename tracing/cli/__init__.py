"""``python -m tracing``: record, inspect, branch and compare traces from a terminal.

The CLI is a registry: `SUBCOMMANDS` maps a name to a `Subcommand` (its help line, a function that adds
its arguments to an argparse parser, and a function that runs it and returns an exit code). Adding a
subcommand is adding one entry to a commands module. The options every subcommand shares (decoding
settings, the model loader) live once, in ``options.py``.

Bad input ends with one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from tracing.cli.classify_command import SUBCOMMANDS as CLASSIFY_COMMANDS
from tracing.cli.evaluate_command import SUBCOMMANDS as EVALUATE_COMMANDS
from tracing.cli.experiment_commands import SUBCOMMANDS as EXPERIMENT_COMMANDS
from tracing.cli.intervention_commands import SUBCOMMANDS as INTERVENTION_COMMANDS
from tracing.cli.lens_commands import SUBCOMMANDS as LENS_COMMANDS
from tracing.cli.lesson_commands import SUBCOMMANDS as LESSON_COMMANDS
from tracing.cli.options import USAGE_ERROR, Subcommand, UsageError
from tracing.cli.steering_commands import SUBCOMMANDS as STEERING_COMMANDS
from tracing.cli.trace_commands import SUBCOMMANDS as TRACE_COMMANDS

SUBCOMMANDS: dict[str, Subcommand] = (
    TRACE_COMMANDS
    | EXPERIMENT_COMMANDS
    | INTERVENTION_COMMANDS
    | LESSON_COMMANDS
    | EVALUATE_COMMANDS
    | STEERING_COMMANDS
    | CLASSIFY_COMMANDS
    | LENS_COMMANDS
)


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
