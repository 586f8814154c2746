"""The Evaluate page in AppTest, on a data home of its own: a finished evaluation of a base and an adapter
(summary, table, filters, CSV, the reliability diagram), bad uploads named by line, a job started from an
upload, and an evaluated question opened on the Trace page at its departure moment."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict

import pytest

from jobs.launcher import job_dir
from jobs.store import JobStore
from tests.app.conftest import app_test
from tests.conftest import OFFLINE_CHAT_MODEL
from tests.tiny_adapter import TINY_ADAPTER
from tracing.experiments.evaluate_questions import evaluate_model
from tracing.experiments.evaluation import Evaluation, EvaluationSettings
from tracing.experiments.evaluation_job import KIND, RESULTS_FILE
from tracing.experiments.questions import read_questions

pytestmark = pytest.mark.slow
PAGE = "pages/evaluate.py"
QUESTIONS = (
    "问题,答案,解答\n"
    "3 加 4 等于几？,7,Ones: 3 + 4 = 7. Answer: 7\n"
    "What is 2 + 3?,5,Ones: 2 + 3 = 5. Answer: 5\n"
    "What is 10 + 10?,20,Ones: 0 + 0 = 0. Tens: 1 + 1 = 2. Answer: 20\n"
)


@pytest.fixture(scope="module")
def finished(adapter_home):
    """A succeeded evaluation job of the base and the tiny adapter on three questions (one Chinese)."""
    from model_zoo import load_model

    store = JobStore()
    questions = read_questions(QUESTIONS.encode(), "q.csv").questions
    settings = EvaluationSettings(max_new_tokens=16)
    job_id = store.create_job(name="q", device="cpu", config={"models": [OFFLINE_CHAT_MODEL, TINY_ADAPTER]}, kind=KIND)
    folder = job_dir(job_id)
    runs = [
        evaluate_model(load_model(m, device="cpu"), questions, settings, trace_folder=folder / "traces")
        for m in (OFFLINE_CHAT_MODEL, TINY_ADAPTER)
    ]
    evaluation = Evaluation("q.csv", questions, settings, runs)
    evaluation.save(folder / RESULTS_FILE)
    store.update(job_id, step=6, total_steps=6, started_at=time.time() - 5)
    store.finish(job_id, "succeeded", result={})
    return job_id, evaluation


def test_a_finished_evaluation_shows_its_summary_table_filters_and_csv(finished):
    job_id, evaluation = finished
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[OFFLINE_CHAT_MODEL] == f"{evaluation.runs[0].accuracy:.1%}"
    assert metrics[TINY_ADAPTER] == f"{evaluation.runs[1].accuracy:.1%}"
    assert any("95% interval" in c.value for c in at.caption)
    table = at.dataframe[-1].value
    assert list(table["question"]) == [q.question for q in evaluation.questions]
    wrong = [i for i, r in enumerate(evaluation.rows()) if not (r["base_correct"] and r["tuned_correct"])]
    at.segmented_control(key=f"ev_filter_{job_id}").set_value("Wrong only").run()
    assert list(at.dataframe[-1].value["index"]) == wrong
    fixed = [r["index"] for r in evaluation.rows() if r["fixed"]]
    at.segmented_control(key=f"ev_filter_{job_id}").set_value("Fixed by the adapter").run()
    assert list(at.dataframe[-1].value["index"]) == fixed
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in figure["data"]] == ["calibrated", OFFLINE_CHAT_MODEL, TINY_ADAPTER]
    rows = list(csv.DictReader(io.StringIO(evaluation.csv_text())))
    assert rows[0]["question"] == "3 加 4 等于几？"
    assert at.download_button(key=f"ev_csv_{job_id}").proto.label == "Results as CSV"


def test_an_evaluated_question_opens_on_the_trace_page_at_its_departure(finished):
    job_id, evaluation = finished
    at = app_test("pages/trace.py")
    at.query_params.update({"evaluation": str(job_id), "model": "1", "question": "0"})
    at.run()
    assert not at.exception, at.exception
    departure = evaluation.runs[1].results[0].departure
    assert departure is not None
    assert at.session_state["trace_moment"] == departure.moment
    assert any(f"Moment {departure.moment} of" in m.value for m in at.markdown)
    assert any(f"evaluation {job_id}, question 0 ({TINY_ADAPTER})" in c.value for c in at.caption)


def test_a_bad_link_says_what_is_wrong(finished):
    at = app_test("pages/trace.py")
    at.query_params.update({"evaluation": "999", "model": "0", "question": "0"})
    at.run()
    assert not at.exception, at.exception
    assert any("cannot be opened" in e.value for e in at.error)


def test_a_bad_upload_names_its_lines_and_starts_nothing(finished):
    at = app_test(PAGE).run()
    upload(at, b"question,answer\n2 + 2?,\n3 + 3?,6\n", "bad.csv")
    assert not at.exception, at.exception
    assert any("bad.csv, line 2, column 'answer': the answer is empty" in m.value for m in at.markdown)
    assert not any(b.key == "ev_start" for b in at.button)


def test_an_upload_starts_a_job_that_the_page_follows_to_its_results(finished):
    """The job: a model load and 3 questions of 8 tokens, about 15 s here; the deadline is 240 s."""
    at = app_test(PAGE).run()
    upload(at, QUESTIONS.encode(), "q.csv")
    at.number_input(key="ev_max_new").set_value(8).run()
    at.button(key="ev_start").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["ev_job"]
    store = JobStore()
    end = time.time() + 240
    while store.get(job_id).active and time.time() < end:
        time.sleep(1)
    assert store.get(job_id).status == "succeeded", store.get(job_id).error
    assert store.get(job_id).config["settings"] == asdict(EvaluationSettings(max_new_tokens=8))
    at.run()
    assert [m.label for m in at.metric] == [OFFLINE_CHAT_MODEL]


def upload(at, raw: bytes, name: str) -> None:
    at.file_uploader(key="ev_upload").upload(name, raw).run()


def test_a_fine_tune_jobs_held_out_split_can_be_evaluated(finished):
    """The job: a model load and 3 held-out questions of 4 tokens, about 10 s here; the deadline is 240 s."""
    from finetune.config import TrainConfig
    from jobs.store import FINETUNE
    from tests.conftest import REPO

    store = JobStore()
    config = TrainConfig(
        train_file=str(REPO / "data/samples/addition_train.jsonl"),
        test_file=str(REPO / "data/samples/addition_test.jsonl"),
        test_limit=3,
    )
    tuned = store.create_job(name="addition", device="cpu", config=config.to_dict(), kind=FINETUNE)
    store.finish(tuned, "succeeded", result={"heldout": "test"})
    at = app_test(PAGE).run()
    at.radio(key="ev_source").set_value("A fine-tune job's held-out split").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ev_ft_job").value.id == tuned
    at.number_input(key="ev_max_new").set_value(4).run()
    at.button(key="ev_start").click().run()
    job_id = at.session_state["ev_job"]
    end = time.time() + 240
    while store.get(job_id).active and time.time() < end:
        time.sleep(1)
    job = store.get(job_id)
    assert job.status == "succeeded", job.error
    assert job.config["finetune_job"] == tuned and job.total_steps == 3
