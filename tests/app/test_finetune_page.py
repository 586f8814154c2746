"""The Fine-tune page in AppTest, on a job store of its own: jobs as they are, the sample set, bad uploads, launch."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from finetune.training_store import TrainingJobStore
from tests.app.conftest import app_test

pytestmark = pytest.mark.slow
PAGE = "pages/fine_tune.py"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh data home that shares the converted offline model."""
    shared = Path(os.environ["MOMENTSCOPE_HOME"]) / "converted"
    (tmp_path / "converted").symlink_to(shared, target_is_directory=True)
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def store(home) -> TrainingJobStore:
    store = TrainingJobStore()
    done = store.create_job(name="addition", device="cpu", config={"model": "smollm2-135m-instruct"})
    for step, loss in enumerate([2.0, 1.2, 0.5, 0.2], start=1):
        store.add_metrics(done, step, {"loss": loss})
    store.add_metrics(done, 4, {"val_loss": 0.25})
    store.add_samples(done, 4, [{"prompt": "What is 1 + 2?", "output": "Answer: 3", "reference": "Answer: 3"}])
    store.set_evaluation(done, "base", {"n": 40, "loss": 2.1, "exact_match": 0.1})
    store.set_evaluation(done, "tuned", {"n": 40, "loss": 0.2, "exact_match": 0.95})
    store.update(done, step=4, total_steps=4, started_at=time.time() - 60)
    store.finish(done, "succeeded", adapter_id="smollm2-135m-instruct+addition-job1")
    failed = store.create_job(name="broken", device="cpu", config={})
    store.finish(failed, "failed", error="RuntimeError: boom\n\nlast log lines:\nstep 3 loss nan")
    running = store.create_job(name="live", device="cpu", config={})
    me = psutil.Process(os.getpid())
    store.update(
        running,
        status="running",
        pid=me.pid,
        pid_started=me.create_time(),
        step=5,
        total_steps=20,
        train_seconds=10.0,
        tokens=4000,
        started_at=time.time() - 20,
    )
    return store


def text_of(at) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [c.value for c in at.code]
    parts += [s.value for s in at.success] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def test_empty_store(home):
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    assert any("No fine-tune jobs yet" in i.value for i in at.info)


def test_jobs_shown_as_they_are(store):
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["status"]) == ["running", "failed", "succeeded"]
    assert "Job 3 · live" in text_of(at) and at.get("progress")  # newest first, with its progress bar
    assert at.button(key="ft_stop_3")
    at.selectbox(key="ft_job_pick").set_value(2).run()
    assert "RuntimeError: boom" in text_of(at) and "step 3 loss nan" in text_of(at)
    at.selectbox(key="ft_job_pick").set_value(1).run()
    shown = text_of(at)
    assert "smollm2-135m-instruct+addition-job1" in shown and "step 4" in shown
    evaluation = at.dataframe[1].value
    assert list(evaluation["model"]) == ["base", "tuned"]
    assert list(evaluation["exact match of the final answer"]) == ["10%", "95%"]


def test_bad_upload_lists_problems_with_lines(home):
    at = app_test(PAGE).run()
    at.file_uploader(key="ft_upload").upload("bad.jsonl", b'{"prompt": "a", "response": "b"}\n{oops}\n').run()
    assert not at.exception, at.exception
    shown = text_of(at)
    assert "bad.jsonl, line 2, column 2: malformed JSON" in shown


def test_sample_set_preview_stats_and_launch(home, monkeypatch):
    import finetune.launcher

    launched = []
    monkeypatch.setattr(finetune.launcher, "launch", lambda config, store: launched.append(config) or 7)
    at = app_test(PAGE).run()
    at.radio(key="ft_source").set_value("Bundled sample: step-by-step addition").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ft_style").value == "prompt-response"
    assert any(m.label == "Median tokens" for m in at.metric)
    (estimate,) = [c.value for c in at.caption if "Estimate:" in c.value]
    assert "training roughly" in estimate and "whole job" in estimate  # loading and evaluations counted too
    at.button(key="ft_launch").click().run()
    assert not at.exception, at.exception
    (config,) = launched
    assert config.train_file.endswith("addition_train.jsonl") and config.test_file.endswith("addition_test.jsonl")
    assert config.mapping == {"style": "prompt-response", "columns": {"prompt": "prompt", "response": "response"}}
    assert config.max_steps > 0 and config.lora_rank == 16


def test_gbk_upload_is_shown_read_as_gbk_and_a_positional_mapping_is_called_a_guess(home):
    rows = "问题,回答\n" + "".join(f"{a}加{b}等于几？,{a + b}\n" for a in range(1, 4) for b in range(1, 4))
    at = app_test(PAGE).run()
    at.file_uploader(key="ft_upload").upload("表格.csv", rows.encode("gbk")).run()
    assert not at.exception, at.exception
    preview = at.dataframe[0].value
    assert list(preview.columns) == ["问题", "回答"] and preview["问题"][0] == "1加1等于几？"
    (accept,) = [c for c in at.checkbox if "read as GBK" in c.label]
    assert "ft_style" not in [s.key for s in at.selectbox]  # nothing goes on until the reading is accepted
    accept.check().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ft_style").value == "prompt-response"
    (warning,) = [w.value for w in at.warning if "Column mapping" in w.value]
    assert "a guess from the column order" in warning and "'问题' as prompt" in warning


def test_a_finished_adapter_downloads_as_a_zip_and_merges(tmp_path, monkeypatch):
    from model_zoo.catalog import resolve
    from tests.tiny_adapter import make_tiny_adapter, temp_home

    home = temp_home(tmp_path)
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(home))
    adapter_id = make_tiny_adapter(home)
    store = TrainingJobStore()
    job = store.create_job(name="tiny", device="cpu", config={"model": "smollm2-135m-instruct"})
    store.finish(job, "succeeded", adapter_id=adapter_id, adapter_path=resolve(adapter_id).path)
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    assert at.get("download_button") and "Download the adapter (zip)" in str(at.get("download_button")[0].proto)
    at.button(key=f"ft_merge_{job}").click().run()
    assert not at.exception, at.exception
    (done,) = [s.value for s in at.success if "Merged model saved to" in s.value]
    assert (
        home / "merged" / "smollm2-135m-instruct-tiny-test-lora" / "model.safetensors"
    ).exists() and "merged" in done


def test_mlflow_asked_for_on_the_page_goes_into_the_launched_config(home, monkeypatch):
    import finetune.launcher

    launched = []
    monkeypatch.setattr(finetune.launcher, "launch", lambda config, store: launched.append(config) or 7)
    at = app_test(PAGE).run()
    at.radio(key="ft_source").set_value("Bundled sample: step-by-step addition").run()
    at.checkbox(key="ft_mlflow").check().run()
    at.text_input(key="ft_mlflow_uri").input("http://127.0.0.1:5000").run()
    at.button(key="ft_launch").click().run()
    assert not at.exception, at.exception
    (config,) = launched
    assert config.track_with == ["mlflow"] and config.mlflow_uri == "http://127.0.0.1:5000"


def test_an_encoder_task_picks_an_encoder_though_the_session_last_used_a_decoder(home):
    """The Trace page leaves the chat model as the session's model; the classification task's picker offered it as
    a typed 'Other' id, and the launched job failed inside peft ("Target modules {'query', 'value'} not found")."""
    at = app_test(PAGE)
    at.session_state["model_id"] = "smollm2-135m-instruct"
    at.run()
    at.radio(key="ft_task").set_value("Classification (encoder)").run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="model_picker").value.startswith("minilm-l6")
    assert at.session_state["model_id"] == "minilm-l6"
    at.radio(key="ft_task").set_value("Instruction tuning (chat model)").run()
    assert at.sidebar.selectbox(key="model_picker").value.startswith("smollm2-135m-instruct")
