"""The Fine-tune page's job panel beyond the loss: probe curves and the link to a probe's trace on the Trace
page, Resume and Train N more steps, AdaLoRA's settings, and comparing runs."""

from __future__ import annotations

import time

import pytest

from finetune.checkpoints import checkpoint_folder
from finetune.probes import probe_trace_path, read_probes
from finetune.training_store import TrainingJobStore
from tests.app.conftest import app_test
from tests.app.test_finetune_page import home  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow
PAGE = "pages/fine_tune.py"
PROBE = {"prompt": "小明有三个苹果，吃了一个，还剩几个？", "response": "还剩两个。"}


def finetune_page():
    """The page inside the app (its link to the Trace page needs the app's navigation)."""
    at = app_test("app.py").run()
    return at.switch_page(PAGE).run()


@pytest.fixture
def probed_job(home, smollm):  # noqa: F811
    """A stopped job with readings of one Chinese probe at steps 0 and 4 (the second made to rise) and the
    probe's trace saved at both checkpoints, as the training loop leaves them."""
    store = TrainingJobStore()
    folder = home / "jobs" / "job-1" / "checkpoints"
    config = {"model": "smollm2-135m-instruct", "checkpoint_dir": str(folder), "learning_rate": 0.002}
    job = store.create_job(name="probed", device="cpu", config=config)
    readings, traces = read_probes(smollm.model, smollm.tokenizer, [PROBE], model_id=smollm.id, adapter="", step=0)
    for step in (0, 4):
        rows = readings if step == 0 else [r | {"prob": min(1.0, r["prob"] + 0.5)} for r in readings]
        store.add_probe_readings(job, step, rows)
        checkpoint_folder(folder, step).mkdir(parents=True)
        traces[0].save(probe_trace_path(checkpoint_folder(folder, step), 0))
    for step, loss in enumerate([2.0, 1.5, 1.1, 0.9], start=1):
        store.add_metrics(job, step, {"loss": loss})
    store.update(job, step=4, total_steps=10, started_at=time.time() - 30)
    store.finish(job, "stopped", error="stopped at step 4 of 10")
    return store, job, readings


def test_probe_moment_curve_and_the_trace_link(probed_job):
    store, job, readings = probed_job
    at = finetune_page()
    assert not at.exception, at.exception
    moment = at.selectbox(key=f"ft_probe_moment_{job}_0_4")
    assert len(moment.options) == len({r["moment"] for r in readings})
    charts = [c for c in at.get("plotly_chart") if "Moment" in str(c.proto.spec)]
    assert charts and "Change in p(reference token), step 0 to 4" in str(at.get("plotly_chart")[-1].proto.spec)
    links = [p for p in at.get("page_link") if "Open probe 1 at step 4" in p.proto.label]
    assert links, [p.proto.label for p in at.get("page_link")]

    trace_page = app_test("pages/trace.py")
    trace_page.query_params["probe"] = f"{job}:4:0"
    trace_page.run()
    assert not trace_page.exception, trace_page.exception
    shown = trace_page.session_state["trace_current"].trace
    assert shown.text == "还剩两个。" and len(shown.moments) == len({r["moment"] for r in readings})
    assert [m.prob for m in shown.moments] == pytest.approx([r["prob"] for r in readings], rel=1e-5)

    bad = app_test("pages/trace.py")
    bad.query_params["probe"] = f"{job}:3:0"
    bad.run()
    assert any("no trace of probe 0 at step 3" in e.value for e in bad.error)


def test_resume_and_more_steps_buttons_call_the_launcher(probed_job, monkeypatch):
    import finetune.launcher

    store, job, _ = probed_job
    monkeypatch.setattr(finetune.launcher, "resumable", lambda s, j: 4)
    asked = []
    monkeypatch.setattr(finetune.launcher, "resume", lambda s, j, more_steps: asked.append((j, more_steps)) or 4)
    import page_glue.finetune_actions as actions

    monkeypatch.setattr(actions, "resumable", finetune.launcher.resumable)
    monkeypatch.setattr(actions, "resume", finetune.launcher.resume)
    at = finetune_page()
    at.button(key=f"ft_resume_{job}").click().run()
    at.number_input(key=f"ft_more_{job}").set_value(7).run()
    at.button(key=f"ft_extend_{job}").click().run()
    assert not at.exception, at.exception
    assert asked == [(job, 0), (job, 7)]


def test_compare_runs_overlays_curves_and_lists_differing_settings(probed_job):
    store, first, _ = probed_job
    second = store.create_job(
        name="other", device="cpu", config={"model": "smollm2-135m-instruct", "learning_rate": 0.003}
    )
    store.add_metrics(second, 1, {"loss": 1.8})
    store.finish(second, "failed", error="boom")
    at = finetune_page()
    at.multiselect(key="ft_compare").set_value([first, second]).run()
    assert not at.exception, at.exception
    (table,) = [d.value for d in at.dataframe if "setting" in d.value.columns]
    assert list(table["setting"]) == ["learning_rate"]  # the checkpoint folder differs, but says nothing
    row = table[table["setting"] == "learning_rate"].iloc[0]
    assert row[f"job {first} · probed"] == "0.002" and row[f"job {second} · other"] == "0.003"
    assert "model" not in list(table["setting"])  # the same in both


def test_adalora_shows_its_settings_and_launches_with_them(home, monkeypatch):  # noqa: F811
    import finetune.launcher

    launched = []
    monkeypatch.setattr(finetune.launcher, "launch", lambda config, store: launched.append(config) or 7)
    at = finetune_page()
    at.radio(key="ft_source").set_value("Bundled sample: step-by-step addition").run()
    at.radio(key="ft_method").set_value("adalora").run()
    at.number_input(key="ft_ada_target").set_value(4).run()
    at.button(key="ft_launch").click().run()
    assert not at.exception, at.exception
    (config,) = launched
    assert config.method == "adalora" and config.adalora_target_r == 4 and config.adalora_init_r == 12
