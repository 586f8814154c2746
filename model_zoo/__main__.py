"""``python -m model_zoo families``: which decoder families the interventions and lenses describe, and the
tiny-model test that proves each feature on each."""

from __future__ import annotations

import argparse

from model_zoo.families import coverage_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_zoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("families", help="print the family x feature coverage table (markdown)")
    parser.parse_args(argv)
    print(coverage_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
