"""The bundled sample task: column addition written out step by step, digit by digit, with carries.

``43 + 28`` becomes ``Ones: 3 + 8 = 11, write 1 carry 1. Tens: 4 + 2 + 1 = 7, write 7. Answer: 71``: a task
the base chat model gets mostly wrong, that a small LoRA learns in a couple of minutes, and whose final
``Answer: N`` can be checked exactly. ``scripts/make_addition_data.py`` writes the bundled files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PLACES = ("Ones", "Tens", "Hundreds", "Thousands", "Ten-thousands", "Hundred-thousands", "Millions", "Ten-millions")
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "samples"
SPLITS = {"train": 400, "validation": 40, "test": 40}


def addition_prompt(a: int, b: int) -> str:
    return f"What is {a} + {b}? Add column by column."


def addition_steps(a: int, b: int) -> str:
    """The worked answer: one sentence per column, the last column writes its whole sum, then the answer."""
    da, db = str(a)[::-1], str(b)[::-1]
    columns = max(len(da), len(db))
    carry, parts, written = 0, [], ""
    for i in range(columns):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        total = x + y + carry
        terms = f"{x} + {y}" + (f" + {carry}" if carry else "")
        last = i == columns - 1
        if last or total < 10:
            digit = str(total) if last else str(total % 10)
            parts.append(f"{PLACES[i]}: {terms} = {total}, write {digit}.")
            carry = 0
        else:
            digit = str(total % 10)
            parts.append(f"{PLACES[i]}: {terms} = {total}, write {digit} carry 1.")
            carry = 1
        written = digit + written
    return " ".join(parts) + f" Answer: {int(written)}"


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1), 10**digits - 1)


def addition_examples(count: int, *, digits: tuple[int, int] = (2, 2), seed: int = 0, exclude=()) -> list[dict]:
    """``count`` distinct sums of numbers with ``digits[0]``..``digits[1]`` digits, as prompt/response rows."""
    rng = random.Random(seed)
    seen, rows = set(exclude), []
    while len(rows) < count:
        a, b = (_number(rng, rng.randint(*digits)) for _ in range(2))
        if (a, b) in seen:
            continue
        seen.add((a, b))
        rows.append({"prompt": addition_prompt(a, b), "response": addition_steps(a, b), "a": a, "b": b})
    return rows


def addition_splits(sizes: dict[str, int] = SPLITS, seed: int = 0) -> dict[str, list[dict]]:
    """Disjoint train / validation / test splits of two-digit sums."""
    rows = addition_examples(sum(sizes.values()), seed=seed)
    splits, start = {}, 0
    for name, size in sizes.items():
        splits[name] = [{"prompt": r["prompt"], "response": r["response"]} for r in rows[start : start + size]]
        start += size
    return splits


def sample_path(split: str) -> Path:
    """The bundled file for one split of the addition sample (``train``, ``validation`` or ``test``)."""
    return SAMPLES_DIR / f"addition_{split}.jsonl"


def write_jsonl(rows: list[dict], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
