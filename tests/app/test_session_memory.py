"""The Trace page on a trace the store has spilled to disk: a moment switch reads it back and shows the same
panels, views cached under the trace's key are found again, and a branch tree survives its own spill."""

from __future__ import annotations

import gc
import json
import weakref

import pytest

from page_glue.branch_panel import OPEN_KEY
from page_glue.session_memory import process_store
from page_glue.trace_cache import CurrentTrace, trace_from_bytes, trace_to_bytes
from tests.app.conftest import app_test, opened
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings, traces_equal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_trace(smollm):
    return trace_generation(
        smollm, "小明有三个苹果，吃了一个，还剩几个？", DecodingSettings(max_new_tokens=8, stop_at_eos=False)
    )


def page_on_a_copy(trace, moment: int):
    """The page on a copy of ``trace`` that nothing but the store holds (so a spill really frees it)."""
    at = app_test("pages/trace.py")
    copy = trace_from_bytes(trace_to_bytes(trace), "copy").trace
    at.session_state["trace_current"] = CurrentTrace(copy, "spill-test", "test trace")
    at.session_state["trace_moment"] = moment
    watch = weakref.ref(copy)
    del copy
    return at.run(), watch


def panels(at) -> tuple[list[str], list[str], list[dict]]:
    """What the panels show: the main area's text, captions and chart data."""
    charts = [json.loads(chart.proto.spec)["data"] for chart in at.get("plotly_chart")]
    return [m.value for m in at.markdown], [c.value for c in at.caption], charts


def spill(at) -> None:
    current = at.session_state["trace_current"]
    process_store().spill_session(current.held.session)
    gc.collect()
    assert current.held.spilled


def test_a_moment_switch_after_a_spill_shows_the_same_panels(short_trace, monkeypatch):
    import page_glue.trace_cache as views

    lens_calls = []
    real = views.logit_lens
    monkeypatch.setattr(views, "logit_lens", lambda *a, **kw: lens_calls.append(a[2]) or real(*a, **kw))
    at, watch = page_on_a_copy(short_trace, moment=3)
    at.toggle(key="trace_lens").set_value(True).run()
    assert not at.exception, at.exception
    before = panels(at)
    assert lens_calls == [3] and any("#### Moment 3" in text for text in before[0])

    spill(at)
    assert watch() is None, "the spilled trace is still held in memory"
    at.slider(key="trace_slider").set_value(5).run()
    assert not at.exception, at.exception
    assert f"**p(chosen)** {short_trace.moments[5].prob:.1%}" in "\n".join(panels(at)[0])
    spill(at)
    at.slider(key="trace_slider").set_value(3).run()
    assert not at.exception, at.exception
    assert panels(at) == before  # the same heading, numbers, top-k chart, head grid and logit lens
    assert lens_calls == [3, 5]  # moment 3's lens came from the cache filed under the trace's key
    assert traces_equal(at.session_state["trace_current"].trace, short_trace)


def test_a_branch_tree_survives_its_spill(short_trace):
    at, _ = page_on_a_copy(short_trace, moment=2)
    at = opened(at, OPEN_KEY)
    prefix = next(box for box in at.selectbox if box.label.startswith("Instead of")).key.removesuffix("_choice")
    at.number_input(key=f"{prefix}_after").set_value(1)
    at.button(key=f"{prefix}_go").click().run()
    assert not at.exception, at.exception
    key, held = at.session_state["branch_trees"][-1]
    branch = held.get().node("b1").trace
    expected = trace_from_bytes(trace_to_bytes(branch), "copy").trace
    del branch
    process_store().spill_session(held.session)
    spill(at)
    gc.collect()
    assert held.spilled and key == "spill-test"
    at.slider(key="trace_slider").set_value(1).run()
    assert not at.exception, at.exception
    assert any(m.value.startswith("**Parent:**") for m in at.markdown)  # b1 is still the branch shown
    assert traces_equal(held.get().node("b1").trace, expected)
