"""`python -m model_zoo warm [MODEL ...] [--json]`: get models ready in the data home before the first user asks.
`python -m model_zoo families`: the decoder families interventions and lenses describe, and the tiny-model test
that proves each feature on each (a markdown table)."""

from __future__ import annotations

import argparse
import json
import sys

from model_zoo.families import coverage_table
from model_zoo.warm import warm


def _warm(args: argparse.Namespace) -> int:
    results = warm(args.models)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for result in results:
            if "error" in result:
                print(f"{result['model']}: {result['error']}")
            else:
                done = "converted and loaded" if result["converted"] else "loaded"
                print(f"{result['model']}: {done} in {result['seconds']} s")
    return 1 if any("error" in result for result in results) else 0


def _families(_args: argparse.Namespace) -> int:
    print(coverage_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_zoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    warm_parser = commands.add_parser("warm", help="convert or download models into the data home now")
    warm_parser.add_argument("models", nargs="*", help="catalog ids, hub ids or folders (default: the default model)")
    warm_parser.add_argument("--json", action="store_true", help="print the results as JSON")
    warm_parser.set_defaults(run=_warm)
    families = commands.add_parser("families", help="print the family x feature coverage table (markdown)")
    families.set_defaults(run=_families)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
