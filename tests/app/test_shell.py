"""The app shell in Streamlit's AppTest: navigation, the sidebar model picker, the Models page."""

from __future__ import annotations

import pytest

from tests.app.conftest import app_test

pytestmark = pytest.mark.slow


def test_models_page_renders_with_the_offline_default():
    at = app_test("pages/models.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="model_picker").value == "smollm2-135m-instruct"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Layers"] == "30" and metrics["Heads"] == "9"
    assert "Catalog" in [h.value for h in at.subheader]


def test_app_entry_point_runs_and_picks_a_page():
    at = app_test("app.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="model_picker").value  # some page with the model picker ran


def test_typed_unknown_model_shows_an_error_and_keeps_the_page_up():
    at = app_test("pages/models.py").run()
    at.sidebar.selectbox(key="model_picker").select(at.sidebar.selectbox(key="model_picker").options[-1]).run()
    at.sidebar.text_input[0].input("no-such-user/no-such-model").run()
    assert not at.exception
    assert any("cannot be reached" in e.value for e in at.error)
    assert "Catalog" in [h.value for h in at.subheader]
