"""Reading a question's final answer from a generated text, with a settable pattern.

The default is the fine-tune job's rule (`finetune.answers`): the last ``Answer: N``, else the last number
(a model that never learnt the format still gets its answer read), so an evaluation's accuracy and the job's
held-out exact match agree. Torch-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from finetune.answers import ANSWER_PATTERN, FoundAnswer, find_answer, normalise
from tracing.experiments.consistency import compile_pattern

DEFAULT_PATTERN = ANSWER_PATTERN


@dataclass(frozen=True)
class AnswerRule:
    """``pattern``: a regular expression whose last match (its first group, if it has one) is the answer;
    ``last_number``: without a match, the text's last number is the answer."""

    pattern: str = DEFAULT_PATTERN
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
        return given is not None and normalise(given) == normalise(expected)
