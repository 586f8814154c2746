"""The one answer rule: numbers read whole (separators, decimals, signs, fractions, full-width digits), the same
reading in evaluation, consistency and the fine-tune job's held-out exact match, and a pattern of one's own."""

from __future__ import annotations

from fractions import Fraction

import pytest

from datafiles.answers import AnswerRule, find_answer, is_exact_match, number_value, same_answer
from tracing.experiments.consistency import extract_answer


@pytest.mark.parametrize(
    ("text", "value", "written"),
    [
        ("Answer: 1,234", "1234", "1,234"),  # thousands separators
        ("Answer: 12.5", "12.5", "12.5"),  # a decimal is not cut at its point
        ("The total is -3.5", "-3.5", "-3.5"),  # a negative decimal, read as the last number
        ("It takes 0.25 weeks", "0.25", "0.25"),
        ("Answer: -7", "-7", "-7"),  # negative numbers
        ("So the share is 3/4", "3/4", "3/4"),  # fractions
        ("Answer: 6/8", "3/4", "6/8"),  # in lowest terms
        ("答案：１２", "12", "１２"),  # full-width digits and colon
        ("答案：１，２３４．５", "1234.5", "１，２３４．５"),
        ("The result is −4", "-4", "−4"),  # the minus sign
        ("Answer: 12.50 dollars", "12.5", "12.50"),
        ("It is 12.", "12", "12"),  # a sentence's full stop is not a decimal point
        ("Answer: 1,024 then 5", "1024", "1,024"),  # the pattern's match comes before the last number
        ("from 3-4 hours", "4", "4"),  # a dash after a digit is not a sign
    ],
)
def test_a_number_is_read_whole(text, value, written):
    found = AnswerRule().find(text)
    assert found.value == value
    assert text[found.start : found.end] == written


@pytest.mark.parametrize(
    ("given", "expected", "same"),
    [
        ("12.50", "12.5", True),
        ("0.75", "3/4", True),
        ("1,234", "1234", True),
        ("１２", "12", True),
        ("-3.5", "3.5", False),
        ("12", "12.5", False),
        ("Canberra", " Canberra ", True),
        ("Canberra", "Sydney", False),
        (None, "1", False),
    ],
)
def test_two_answers_are_the_same_when_their_values_are(given, expected, same):
    assert same_answer(given, expected) is same


def test_values_are_exact():
    assert number_value("１，２３４．５") == Fraction(2469, 2)
    assert number_value("3/0") is None and number_value("three") is None


@pytest.mark.parametrize(
    ("text", "reference", "right"),
    [
        ("Ones: ... Answer: 71", "Answer: 71", True),
        ("Ones: ... Answer: 72", "Answer: 71", False),
        ("43 + 28 = 71", "Answer: 71", True),  # a model without the format: its last number
        ("I cannot add.", "Answer: 71", False),
        ("Answer: 1,024 then 5", "Answer: 1024", True),
        ("Answer: 12.5", "Answer: 12.5", True),  # 12 before the rule read decimals whole
        ("Answer: 12.5", "Answer: 12", False),
        ("The total is -3.5", "Answer: -3.5", True),  # 5 before
        ("That is 0.25 weeks", "Answer: 0.25", True),  # 25 before
        ("答案：１２", "Answer: 12", True),
        ("Half is 1/2", "Answer: 0.5", True),
    ],
)
def test_evaluation_consistency_and_the_fine_tune_job_read_alike(text, reference, right):
    rule = AnswerRule()
    found = rule.find(text)
    assert (found is not None and rule.same(found.value, rule.from_reference(reference))) is right
    assert is_exact_match(text, reference) is right  # the fine-tune job's held-out exact match
    pattern_found = find_answer(text, rule.compiled, last_number=False)
    assert extract_answer(text) == (None if pattern_found is None else pattern_found.value)  # consistency


def test_consistency_reads_separators_as_evaluation_does():
    assert extract_answer("Answer: 1,234") == "1234" == AnswerRule().find("Answer: 1,234").value


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
