"""The final-answer rule of a generated reasoning: the last ``Answer: N`` (or another pattern's last match), or,
for a model that never learnt that format, its last number. The fine-tune job's held-out exact match and the
evaluation of a question set (`tracing.experiments.answers`) both read answers with `find_answer`, so their
accuracies agree. Torch-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANSWER_PATTERN = r"Answer:\s*(-?[\d,]+)"
ANSWER = re.compile(ANSWER_PATTERN)
NUMBER = re.compile(r"-?\d[\d,]*")


@dataclass(frozen=True)
class FoundAnswer:
    """An answer read from a text: its normalised value and where it stands (``text[start:end]``)."""

    value: str
    start: int
    end: int


def normalise(value: str) -> str:
    """An answer as compared: stripped, and a number without thousands separators."""
    value = value.strip()
    return value.replace(",", "") if NUMBER.fullmatch(value) else value


def _last(pattern: re.Pattern, text: str) -> FoundAnswer | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 (only the last match is wanted)
        pass
    if last is None:
        return None
    group = 1 if pattern.groups else 0
    if last.group(group) is None:
        return None
    return FoundAnswer(normalise(last.group(group)), last.start(group), last.end(group))


def find_answer(text: str, pattern: re.Pattern = ANSWER, last_number: bool = True) -> FoundAnswer | None:
    """The last match of ``pattern`` (its first group when it has one); else, with ``last_number``, the last
    number in ``text``; None when neither is there."""
    found = _last(pattern, text)
    if found is None and last_number:
        found = _last(NUMBER, text)
    return found


def final_answer(text: str) -> str | None:
    """The number after the last ``Answer:`` in ``text``, without thousands separators; None if absent."""
    found = find_answer(text, ANSWER, last_number=False)
    return None if found is None else found.value


def is_exact_match(generated: str, reference: str) -> bool:
    """With a reference ending in ``Answer: N``: the same final answer (the last number of a text without the
    format); otherwise the same stripped text."""
    expected = final_answer(reference)
    if expected is not None:
        given = find_answer(generated)
        return given is not None and given.value == expected
    return generated.strip() == reference.strip()
