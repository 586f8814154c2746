"""The Compare page in Streamlit's AppTest: the default pair (the base and its newest adapter), a comparison
whose shared moment selector moves both sides, and the consistency section."""

from __future__ import annotations

import pytest

from tests.app.conftest import app_test
from tests.conftest import OFFLINE_CHAT_MODEL
from tests.tiny_adapter import TINY_ADAPTER, temp_home

pytestmark = pytest.mark.slow


def side_lines(at) -> dict[str, str]:
    """The first line under each side's title: '`token` p = ...' for the moment shown."""
    texts = [m.value for m in at.markdown]
    return {text[2]: texts[i + 1] for i, text in enumerate(texts) if text.startswith(("**a:", "**b:"))}


def moment_heading(at) -> int:
    heading = next(m.value for m in at.markdown if m.value.startswith("#### Moment"))
    return int(heading.split()[2])


def test_without_adapters_both_sides_default_to_the_base_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(temp_home(tmp_path)))
    at = app_test("pages/compare.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="compare_model_a").value == OFFLINE_CHAT_MODEL
    assert at.selectbox(key="compare_model_b").value == OFFLINE_CHAT_MODEL
    assert any("same model" in c.value for c in at.caption)


def test_base_against_its_adapter_with_one_moment_selector(adapter_home):
    at = app_test("pages/compare.py").run()
    assert at.selectbox(key="compare_model_b").value == TINY_ADAPTER
    at.number_input(key="compare_max_new").set_value(5)
    at.toggle(key="compare_own").set_value(True)
    at.button(key="compare_run").click().run()
    assert not at.exception, at.exception
    result = at.session_state["compare_result"].get()
    assert result.trace_a.adapter is None and result.trace_b.adapter == TINY_ADAPTER
    assert len(result.moments) == 5 and result.own_path is not None
    assert moment_heading(at) == 0

    at.button(key="compare_next").click().run()
    assert at.session_state["compare_moment"] == 1 and moment_heading(at) == 1
    assert at.slider(key="compare_slider").value == 1
    for side, line in side_lines(at).items():
        moment = result.trace(side).moments[1]
        assert line.startswith(f"`{moment.token.replace(' ', '·') or '∅'}` p = {moment.prob:.3f}"), (side, line)

    at.slider(key="compare_slider").set_value(4).run()
    assert at.session_state["compare_moment"] == 4 and moment_heading(at) == 4
    lines = side_lines(at)
    assert set(lines) == {"a", "b"}
    assert all(f"p = {result.trace(s).moments[4].prob:.3f}" in lines[s] for s in lines)
    assert len(at.get("plotly_chart")) >= 5  # the KL timeline, two top-k charts, two head grids

    at.button(key="compare_prev").click().run()
    assert moment_heading(at) == 3 and not at.exception
    at.button(key="compare_first").click().run()  # the Trace page's navigator, first and Play included
    assert moment_heading(at) == 0 and at.button(key="compare_play").label == "Play"


def test_consistency_section_shows_answers_and_the_split(adapter_home):
    at = app_test("pages/compare.py").run()
    at.number_input(key="consistency_n").set_value(2)
    at.number_input(key="consistency_max_new").set_value(5)
    at.button(key="consistency_run").click().run()
    assert not at.exception, at.exception
    result = at.session_state["compare_consistency"].get()
    assert result.seeds == [0, 1] and len(result.paths) == 2
    labels = [m.label for m in at.metric]
    assert {"Majority answer", "Agreement", "Paths first part"} <= set(labels)
