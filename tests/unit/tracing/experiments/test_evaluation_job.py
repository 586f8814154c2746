"""The evaluation job: its own process through the job store (status, progress, results, Stop), and the same
command under ``accelerate launch`` splitting the questions over two CPU processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from jobs.launcher import stop
from jobs.store import FINETUNE, JobStore
from tests.conftest import OFFLINE_CHAT_MODEL, REPO
from tracing.experiments.evaluation import EvaluationSettings, load_evaluation
from tracing.experiments.evaluation_job import KIND, EvaluationJobConfig, launch_evaluation, results_path

pytestmark = pytest.mark.slow
QUESTIONS = "question,answer\nWhat is 2 + 3?,5\n小明有3个苹果，又买了4个，一共几个？,7\nWhat is 10 + 10?,20\n"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A data home of its own that shares the converted offline model (no second conversion)."""
    shared = Path(os.environ["MOMENTSCOPE_HOME"]) / "converted"
    shared.mkdir(parents=True, exist_ok=True)
    (tmp_path / "converted").symlink_to(shared, target_is_directory=True)
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    (tmp_path / "q.csv").write_text(QUESTIONS, encoding="utf-8")
    return tmp_path


def wait_until_finished(store: JobStore, job_id: int, deadline_s: float):
    end = time.time() + deadline_s
    while time.time() < end:
        job = store.get(job_id)
        if not job.active:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {store.get(job_id).status} after {deadline_s} s")


def config(home: Path, **settings) -> EvaluationJobConfig:
    settings = asdict(EvaluationSettings(**({"max_new_tokens": 12} | settings)))
    return EvaluationJobConfig([OFFLINE_CHAT_MODEL], str(home / "q.csv"), settings=settings, device="cpu")


def test_a_job_runs_in_its_own_process_and_leaves_its_results(home):
    """About 20 s here (a model load and 3 questions of 12 tokens); the deadline is 240 s."""
    store = JobStore(home / "jobs.sqlite")
    job_id = launch_evaluation(config(home), store)
    job = wait_until_finished(JobStore(store.path), job_id, 240)  # a second handle: a reloaded page
    assert job.status == "succeeded", job.error
    assert job.kind == KIND and job.step == job.total_steps == 3
    assert [j.id for j in store.list_jobs(FINETUNE)] == []
    evaluation = load_evaluation(results_path(job_id))
    assert [q.question for q in evaluation.questions][1] == "小明有3个苹果，又买了4个，一共几个？"
    assert job.result["models"][OFFLINE_CHAT_MODEL]["accuracy"] == evaluation.runs[0].accuracy
    traces = results_path(job_id).parent / "traces"
    assert all((traces / r.trace_file).exists() for r in evaluation.runs[0].results)


def test_stop_ends_a_running_job_as_stopped(home):
    """Stop asked once the job answers; it ends within the 15 s grace (deadline 240 s with the load)."""
    store = JobStore(home / "jobs.sqlite")
    job_id = launch_evaluation(config(home, max_new_tokens=400, paths=8), store)
    end = time.time() + 180
    while store.get(job_id).phase.startswith("answering") is False and time.time() < end:
        time.sleep(0.3)
    stop(store, job_id, wait=True)
    job = wait_until_finished(store, job_id, 60)
    assert job.status == "stopped"
    assert not results_path(job_id).exists()


def test_a_bad_questions_file_fails_the_job_with_its_line(home):
    (home / "q.csv").write_text("question,answer\nWhat is 2 + 3?,\n", encoding="utf-8")
    store = JobStore(home / "jobs.sqlite")
    job = wait_until_finished(store, launch_evaluation(config(home), store), 240)
    assert job.status == "failed" and "q.csv, line 2, column 'answer': the answer is empty" in job.error


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_accelerate_splits_the_questions_over_two_processes(home, tmp_path):
    """``accelerate launch --multi_gpu --num_processes 2`` on a machine without GPUs starts two CPU processes
    (``--cpu`` would start one): the gathered results equal one process's run."""
    out_two, out_one = tmp_path / "two.json", tmp_path / "one.json"
    common = ["--questions", str(home / "q.csv"), "--model", OFFLINE_CHAT_MODEL, "--max-new-tokens", "12"]
    common += ["--device", "cpu"]
    env = os.environ | {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    accelerate += ["--main_process_port", str(free_port())]
    for launcher, out in ((accelerate, out_two), ([sys.executable], out_one)):
        done = subprocess.run(
            [*launcher, "-m", "tracing", "evaluate", *common, "--out", str(out)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    split, whole = load_evaluation(out_two), load_evaluation(out_one)
    assert split.info["processes"] == 2 and whole.info["processes"] == 1
    assert [r.index for r in split.runs[0].results] == [0, 1, 2]
    assert [r.text for r in split.runs[0].results] == [r.text for r in whole.runs[0].results]
