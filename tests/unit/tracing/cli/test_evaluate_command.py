"""``python -m tracing evaluate``: a run that writes its results and CSV, and bad input as one line, exit 2."""

from __future__ import annotations

import csv

import pytest

from tests.conftest import OFFLINE_CHAT_MODEL
from tracing.cli import main
from tracing.experiments.evaluation import load_evaluation


def test_a_bad_questions_file_exits_2_naming_its_line(tmp_path, capsys):
    bad = tmp_path / "q.csv"
    bad.write_text("question,answer\n2 + 2?,\n", encoding="utf-8")
    assert main(["evaluate", "--questions", str(bad), "--model", OFFLINE_CHAT_MODEL, "--device", "cpu"]) == 2
    assert "q.csv, line 2, column 'answer': the answer is empty" in capsys.readouterr().err


def test_bad_settings_exit_2_before_any_work(capsys):
    assert main(["evaluate", "--model", OFFLINE_CHAT_MODEL]) == 2
    assert "give a questions file or a fine-tune job's held-out split" in capsys.readouterr().err
    assert main(["evaluate", "--questions", "q.csv", "--model", "m", "--pattern", "(("]) == 2
    assert "not a valid regular expression" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_writes_results_and_csv(tmp_path, capsys, smollm):
    questions = tmp_path / "q.csv"
    questions.write_text(
        "question,answer\n小明有3个苹果，又买了4个，一共几个？,7\nWhat is 2 + 3?,5\n", encoding="utf-8"
    )
    out, table = tmp_path / "e.json", tmp_path / "e.csv"
    args = ["evaluate", "--questions", str(questions), "--model", OFFLINE_CHAT_MODEL, "--max-new-tokens", "12"]
    assert main([*args, "--device", "cpu", "--out", str(out), "--csv", str(table)]) == 0
    evaluation = load_evaluation(out)
    printed = capsys.readouterr().out
    assert f"{OFFLINE_CHAT_MODEL}: {evaluation.runs[0].correct}/2 correct" in printed
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [r["question"] for r in rows][0] == "小明有3个苹果，又买了4个，一共几个？"
