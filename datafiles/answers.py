"""The one answer rule: the final answer of a generated text, read the same way by the evaluation of a question
set, consistency of sampled paths and a fine-tune job's held-out exact match, so their figures agree.

The answer is the last match of a pattern (by default the last ``Answer: N`` or ``答案：N``), else, for a
model that never learnt that format, its last number. A number is read whole: thousands separators
(``1,234``), decimals (``12.5``, ``-3.5``, ``0.25``), a sign (``-``, ``−``), fractions (``3/4``) and full-width
digits (``１２``); two numbers are the same answer when their values are equal (``12.50`` and ``12.5``,
``0.75`` and ``3/4``). Torch-free.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cached_property

# \d is any decimal digit, full-width ones included; the sign is not one after a digit ("3-4" is 3 and 4).
NUMBER_PATTERN = r"(?:(?<!\d)[-−－])?(?:\d{1,3}(?:[,，]\d{3})+(?!\d)|\d+)(?:[.．]\d+)?(?:[/／]\d+)?"
ANSWER_PATTERN = rf"(?:Answer|答案)\s*[:：]\s*({NUMBER_PATTERN})"
ANSWER = re.compile(ANSWER_PATTERN)
NUMBER = re.compile(NUMBER_PATTERN)


@dataclass(frozen=True)
class FoundAnswer:
    """An answer read from a text: its normalised value and where it stands (``text[start:end]``)."""

    value: str
    start: int
    end: int


def number_value(value: str) -> Fraction | None:
    """The exact value of a number as written (``"1,234"``, ``"-3.5"``, ``"3/4"``, ``"１２"``); None when ``value``
    is not one number or divides by zero."""
    text = unicodedata.normalize("NFKC", value.strip()).replace("−", "-")
    if not NUMBER.fullmatch(text):
        return None
    numerator, _, denominator = text.replace(",", "").partition("/")
    if denominator and int(denominator) == 0:
        return None
    value_of = Fraction(Decimal(numerator))
    return value_of / int(denominator) if denominator else value_of


def normalise(value: str) -> str:
    """An answer as compared and shown: stripped; a number in one form (``1234``, ``12.5``, ``-3``, ``3/4``)."""
    value = value.strip()
    number = number_value(value)
    if number is None:
        return value
    if number.denominator == 1:
        return str(number.numerator)
    text = unicodedata.normalize("NFKC", value).replace("−", "-").replace(",", "")
    if "/" in text:
        return f"{number.numerator}/{number.denominator}"
    return format(Decimal(text).normalize(), "f")


def same_answer(given: str | None, expected: str) -> bool:
    """Whether a found answer is the expected one: equal values for two numbers, else equal stripped text."""
    if given is None:
        return False
    given_number, expected_number = number_value(given), number_value(expected)
    if given_number is not None and expected_number is not None:
        return given_number == expected_number
    return normalise(given) == normalise(expected)


def compile_pattern(pattern: str) -> re.Pattern:
    """The compiled answer pattern; raises ValueError with the reason when it is not a valid regex."""
    if not pattern:
        raise ValueError("The answer pattern is empty.")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"The answer pattern {pattern!r} is not a valid regular expression: {exc}.") from exc


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


@dataclass(frozen=True)
class AnswerRule:
    """``pattern``: a regular expression whose last match (its first group, if it has one) is the answer;
    ``last_number``: without a match, the text's last number is the answer."""

    pattern: str = ANSWER_PATTERN
    last_number: bool = True

    @cached_property
    def compiled(self) -> re.Pattern:
        return compile_pattern(self.pattern)

    def check(self) -> AnswerRule:
        """Raises ValueError naming what is wrong with the pattern; returns self."""
        _ = self.compiled
        return self

    def find(self, text: str) -> FoundAnswer | None:
        """The answer in a generated text and where it stands in it."""
        return find_answer(text, self.compiled, self.last_number)

    def from_reference(self, reference: str) -> str | None:
        """The known answer a reference solution ends with (the pattern only: a solution's last number need
        not be its answer)."""
        found = find_answer(reference, self.compiled, last_number=False)
        return None if found is None else found.value

    @staticmethod
    def same(given: str | None, expected: str) -> bool:
        return same_answer(given, expected)


def final_answer(text: str) -> str | None:
    """The number after the last ``Answer:`` in ``text``, in one form; None if absent."""
    return AnswerRule(last_number=False).from_reference(text)


def is_exact_match(generated: str, reference: str) -> bool:
    """With a reference ending in ``Answer: N``: the same final answer (the last number of a text without the
    format); otherwise the same stripped text."""
    expected = final_answer(reference)
    if expected is not None:
        given = find_answer(generated)
        return given is not None and same_answer(given.value, expected)
    return generated.strip() == reference.strip()
