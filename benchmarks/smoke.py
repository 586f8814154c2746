"""``--smoke``: a benchmark run once at tiny sizes, in seconds, so the test suite notices a script that no longer
runs (tests/unit/test_benchmarks.py). Its figures measure nothing; the JSON says ``"smoke": true``."""

from __future__ import annotations

import argparse


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None, **sizes) -> argparse.Namespace:
    """The command line; with ``--smoke``, ``sizes`` (argument name -> tiny value) replace what was given."""
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds: checks that the script runs")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(sizes)
    return args
