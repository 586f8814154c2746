"""Steering in the branch panel (page_glue/steering_panel.py) in a small AppTest script: a vector made from two
prompt lists continues the trace beside the unsteered path (selected, with its first departure), is saved and
reused by name, and a strength sweep draws its chart."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from page_glue.branch_panel import OPEN_KEY
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.experiments.branch_tree import INTERVENTION_KEY, first_departure

pytestmark = pytest.mark.slow


def script():
    import streamlit as st

    from page_glue.branch_panel import branch_panel
    from page_glue.trace_cache import CurrentTrace

    current = st.session_state.setdefault("test_current", CurrentTrace(st.session_state["test_trace"], "t", "test"))
    branch_panel(lambda: st.session_state["test_model"], current, 1)


@pytest.fixture(scope="module")
def trace(smollm):
    settings = DecodingSettings(max_new_tokens=6, stop_at_eos=False, use_chat_template=False)
    return trace_generation(smollm, "Today I feel", settings)


def test_steer_from_prompt_lists_then_sweep(smollm, trace, tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    at = AppTest.from_function(script, default_timeout=180)
    at.session_state["test_model"] = smollm
    at.session_state["test_trace"] = trace
    at.session_state[OPEN_KEY] = True
    at.run()
    at.toggle(key="branch_t_steer").set_value(True).run()
    assert not at.exception, at.exception
    at.number_input(key="steer_layer").set_value(10)
    at.number_input(key="steer_strength").set_value(24.0)
    at.number_input(key="steer_after").set_value(4)
    at.text_input(key="steer_name").set_value("joy")
    at.checkbox(key="steer_save").check()
    at.button(key="steer_go").click().run()
    assert not at.exception, at.exception
    tree = at.session_state["branch_trees"][-1][1].get()
    node = tree.node("b1")
    assert at.session_state["branch_t_node"] == "b1" and node.parent == "root" and node.moment == 1
    assert node.trace.info[INTERVENTION_KEY]["spec"]["strength"] == 24.0 and len(node.trace.moments) == 5
    departure = first_departure(trace, node.trace)
    assert departure is not None  # this strength changes the continuation
    assert any(f"first departs at moment {departure}" in c.value for c in at.caption)

    # the saved vector is offered by name and steers the same way
    at.radio(key="steer_source").set_value("saved").run()
    assert at.selectbox(key="steer_saved").options == ["joy"]
    at.text_input(key="steer_strengths").set_value("-24,24")
    at.button(key="steer_sweep_go").click().run()
    assert not at.exception, at.exception
    sweep = at.session_state["steer_sweep"][3]
    assert sweep.strengths == [-24.0, 0.0, 24.0]
    assert sweep.token_ids[2].tolist() == [m.token_id for m in node.trace.moments[1:5]]
    assert np.array_equal(sweep.token_ids[1], [m.token_id for m in trace.moments[1:5]])
    assert "steer_sweep_chart" in [chart.key for chart in at.get("plotly_chart")]
