"""The logit lens's "logit / tuned" switch (page_glue/tuned_lens_panel.py) in a small AppTest script: without a
lens for the model, "tuned" says so and shows the logit lens; with one saved, it shows that lens's reading
(the engine's own, and not the logit lens's); a finished lens job's report is drawn."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.inspection.logit_lens import logit_lens
from tracing.inspection.tuned_lens.lens import lens_folder, new_lens, save_lens

pytestmark = pytest.mark.slow


def script():
    import streamlit as st

    from page_glue.tuned_lens_panel import lens_reading

    reading = lens_reading("t", 2, 5, st.session_state["test_model"], st.session_state["test_trace"])
    st.session_state["test_reading"] = reading


@pytest.fixture(scope="module")
def trace(smollm):
    return trace_generation(smollm, "The capital of France is", DecodingSettings(max_new_tokens=3))


def test_the_switch_reads_the_models_tuned_lens(smollm, trace, tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    at = AppTest.from_function(script, default_timeout=120)
    at.session_state["test_model"], at.session_state["test_trace"] = smollm, trace
    at.run()
    assert not at.exception, at.exception
    plain = logit_lens(smollm, trace, 2, 5)
    assert np.array_equal(at.session_state["test_reading"].top_ids, plain.top_ids)
    at.session_state["trace_lens_kind"] = "tuned"
    at.run()
    assert any("No tuned lens is trained" in info.value for info in at.info)
    assert np.array_equal(at.session_state["test_reading"].top_ids, plain.top_ids)

    lens = new_lens(smollm)
    with torch.no_grad():
        for translator in lens.translators:
            translator.bias.normal_(0, 2.0, generator=torch.Generator().manual_seed(0))
    save_lens(lens, lens_folder(smollm))
    store_job_with_report(smollm)
    at.run()
    assert not at.exception, at.exception
    tuned = logit_lens(smollm, trace, 2, 5, translate=lens.translate)
    reading = at.session_state["test_reading"]
    assert np.array_equal(reading.top_probs, tuned.top_probs) and not np.array_equal(reading.top_probs, plain.top_probs)
    assert "lens_report" in [chart.key for chart in at.get("plotly_chart")]


def store_job_with_report(loaded) -> None:
    from page_glue.job_files import job_store
    from tracing.experiments.tuned_lens_job import KIND

    store = job_store()
    job_id = store.create_job(name="lens", device="cpu", config={"model": loaded.identity.name}, kind=KIND)
    rows = loaded.num_layers + 1
    report = {"model": loaded.identity.name, "layer_names": [f"layer {i}" for i in range(rows)],
              "logit_kl": [1.0] * rows, "tuned_kl": [0.5] * rows, "logit_top1": [0.5] * rows,
              "tuned_top1": [0.7] * rows, "tokens": 32, "trained": {"steps": 1, "tokens": 32}}  # fmt: skip
    store.update(job_id, status="running")
    store.finish(job_id, "succeeded", result={"report": report})


def test_the_commitment_map_reads_through_the_tuned_lens(smollm, monkeypatch, tmp_path):
    from tests.app.test_interventions_panel import PROMPT, SETTINGS, click, page_with
    from tracing.inspection.interventions.commitment_map import commitment
    from tracing.inspection.tuned_lens import lens as lens_module
    from tracing.inspection.tuned_lens.commitment import tuned_commitment

    monkeypatch.setattr(lens_module, "lens_folder", lambda loaded: tmp_path / "lens")
    trace = trace_generation(smollm, PROMPT, SETTINGS)
    lens = new_lens(smollm)
    with torch.no_grad():
        lens.translators[5].bias.normal_(0, 5.0, generator=torch.Generator().manual_seed(2))
    save_lens(lens, tmp_path / "lens")
    at = page_with(trace, tab="Commitment")
    click(at, "Read every moment")
    assert not at.exception, at.exception
    at.session_state["iv_commit_lens"] = "tuned"
    at.run()
    assert not at.exception, at.exception
    chart = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("iv_commit_map"))
    heatmap = next(t for t in json.loads(chart.proto.spec)["data"] if t["type"] == "heatmap")
    expected = tuned_commitment(smollm, trace, lens).ranks
    assert not np.array_equal(expected, commitment(smollm, trace).ranks)  # the lens moves some ranks
    np.testing.assert_allclose(plotted(heatmap["z"]), np.log10(expected))


def plotted(values) -> np.ndarray:
    """A plotly figure's array as its JSON holds it: a list, or a typed array (base64 bytes, dtype, shape)."""
    if isinstance(values, dict):
        raw = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return raw.reshape([int(n) for n in str(values.get("shape", len(raw))).split(",")])
    return np.asarray(values, dtype=np.float64)
