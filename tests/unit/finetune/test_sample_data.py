import json

import pytest

from finetune.evaluate import final_answer
from finetune.sample_data import addition_splits, addition_steps, sample_path


@pytest.mark.parametrize(("a", "b"), [(43, 28), (99, 98), (50, 50), (10, 11), (12345, 987)])
def test_worked_answer_is_the_sum(a, b):
    assert final_answer(addition_steps(a, b)) == str(a + b)


def test_example_from_the_issue():
    assert addition_steps(43, 28) == "Ones: 3 + 8 = 11, write 1 carry 1. Tens: 4 + 2 + 1 = 7, write 7. Answer: 71"


def test_bundled_files_are_what_the_script_writes_and_splits_are_disjoint():
    splits = addition_splits()
    for name, rows in splits.items():
        on_disk = [json.loads(line) for line in sample_path(name).read_text().splitlines()]
        assert on_disk == rows
    prompts = [{r["prompt"] for r in rows} for rows in splits.values()]
    assert not (prompts[0] & prompts[1]) and not (prompts[0] & prompts[2]) and not (prompts[1] & prompts[2])


def test_exact_match_reads_the_final_answer():
    from finetune.evaluate import is_exact_match

    reference = addition_steps(43, 28)
    assert is_exact_match("Ones: ... Answer: 71", reference)
    assert not is_exact_match("Ones: ... Answer: 72", reference)
    assert is_exact_match("43 + 28 = 71", reference)  # a model without the format: its last number
    assert not is_exact_match("I cannot add.", reference)
