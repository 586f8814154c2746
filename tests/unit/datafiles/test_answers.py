"""The answer rule: the fine-tune job's rule by default, a pattern of one's own otherwise."""

from __future__ import annotations

import pytest

from finetune.answers import is_exact_match
from tracing.experiments.answers import AnswerRule


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("Ones: ... Answer: 71", "Answer: 71"),
        ("Ones: ... Answer: 72", "Answer: 71"),
        ("43 + 28 = 71", "Answer: 71"),
        ("I cannot add.", "Answer: 71"),
        ("Answer: 1,024 then 5", "Answer: 1024"),
    ],
)
def test_the_default_rule_is_the_fine_tune_jobs(text, reference):
    rule = AnswerRule()
    found = rule.find(text)
    ours = found is not None and rule.same(found.value, rule.from_reference(reference))
    assert ours == is_exact_match(text, reference)


def test_the_answer_knows_where_it_stands():
    text = "Tens: 4 + 2 = 6. Answer: 71 done"
    found = AnswerRule().find(text)
    assert (found.value, text[found.start : found.end]) == ("71", "71")


def test_a_pattern_of_ones_own_and_no_fallback():
    rule = AnswerRule(r"答案[:：]\s*(\S+)", last_number=False)
    assert rule.find("所以答案：七").value == "七"
    assert rule.find("是 7") is None
    assert AnswerRule(last_number=True).find("是 7").value == "7"


def test_a_bad_pattern_is_named():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        AnswerRule("Answer: (").check()
