"""Writes the bundled addition sample: data/samples/addition_{train,validation,test}.jsonl.

Run from the repository root: ``python scripts/make_addition_data.py``. Deterministic (seeded), so the
committed files are exactly what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finetune.sample_data import addition_splits, sample_path, write_jsonl  # noqa: E402


def main() -> None:
    for split, rows in addition_splits().items():
        write_jsonl(rows, sample_path(split))
        print(f"{sample_path(split)}: {len(rows)} examples")


if __name__ == "__main__":
    main()
