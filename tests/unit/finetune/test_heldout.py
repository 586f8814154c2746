"""A fine-tune job's held-out split, written to its folder and read back by an evaluation as its questions:
the test file cut at the job's limit, else the job's validation split."""

from __future__ import annotations

from dataclasses import asdict

from finetune.config import TrainConfig
from finetune.heldout import heldout_rows, write_heldout
from tests.conftest import REPO
from tracing.experiments.evaluation_job import EvaluationJobConfig, load_questions
from tracing.experiments.questions import read_questions_file


def test_the_split_is_the_test_file_cut_at_the_limit_and_an_evaluation_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    config = TrainConfig(
        train_file=str(REPO / "data/samples/addition_train.jsonl"),
        test_file=str(REPO / "data/samples/addition_test.jsonl"),
        test_limit=25,
        job_id=7,
    )
    evaluation = EvaluationJobConfig(models=["m"], finetune_job=7)
    missing = load_questions(evaluation)
    assert not missing.ok and "python -m finetune heldout 7" in missing.message()
    write_heldout(7, config.to_dict())
    found = load_questions(evaluation)
    whole = read_questions_file(str(REPO / "data/samples/addition_test.jsonl"))
    assert found.ok and found.source == "held-out split of job 7"
    assert [(q.question, q.answer, q.reference) for q in found.questions] == [
        (q.question, q.answer, q.reference) for q in whole.questions[:25]
    ]
    assert asdict(evaluation)["finetune_job"] == 7


def test_without_a_test_file_the_split_is_the_jobs_validation_split():
    from finetune.validation import split_examples

    config = TrainConfig(train_file=str(REPO / "data/samples/addition_train.jsonl"), validation_fraction=0.1, seed=3)
    rows, problems = heldout_rows(config.to_dict())
    questions = read_questions_file(str(REPO / "data/samples/addition_train.jsonl")).questions
    _, validation = split_examples([{"prompt": q.question} for q in questions], 0.1, 3)
    assert not problems and [r["question"] for r in rows] == [v["prompt"] for v in validation]


def test_an_unreadable_split_is_named():
    rows, problems = heldout_rows(TrainConfig(train_file="/no/such/file.jsonl", job_id=3).to_dict())
    assert rows == [] and "held-out split of job 3" in str(problems[0])
