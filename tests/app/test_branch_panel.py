"""The branch panel (page_glue/branch_panel.py) in a small AppTest script: branch at a moment from the top-k
or from typed text, the new branch is selected, and branches of branches make a tree."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from page_glue.branch_panel import OPEN_KEY
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings

pytestmark = pytest.mark.slow


def script():
    import streamlit as st

    from page_glue.branch_panel import branch_panel
    from page_glue.trace_cache import CurrentTrace

    current = st.session_state.setdefault("test_current", CurrentTrace(st.session_state["test_trace"], "t", "test"))
    branch_panel(lambda: st.session_state["test_model"], current, st.session_state["test_moment"])


@pytest.fixture(scope="module")
def trace(smollm):
    return trace_generation(smollm, "Name three colours.", DecodingSettings(max_new_tokens=6, stop_at_eos=False))


def panel(smollm, trace, moment: int) -> AppTest:
    at = AppTest.from_function(script, default_timeout=180)
    at.session_state["test_model"] = smollm
    at.session_state["test_trace"] = trace
    at.session_state["test_moment"] = moment
    at.session_state[OPEN_KEY] = True  # opened (it is drawn only while open)
    return at.run()


def node_key(at) -> str:
    return next(box for box in at.selectbox if box.label == "Branches").key


def controls(at) -> str:
    """The key prefix of the branch controls shown now."""
    return next(box for box in at.selectbox if box.label.startswith("Instead of")).key.removesuffix("_choice")


def test_branch_from_the_top_k_then_from_typed_text(smollm, trace):
    at = panel(smollm, trace, 2)
    assert not at.exception, at.exception
    key = node_key(at)
    prefix = controls(at)
    choice = at.selectbox(key=f"{prefix}_choice")
    runner_up = int(trace.moments[2].top_ids[1])
    assert choice.value == runner_up  # the most likely token that was not chosen
    at.number_input(key=f"{prefix}_after").set_value(2)
    at.button(key=f"{prefix}_go").click().run()
    assert not at.exception, at.exception
    tree = at.session_state["branch_trees"][-1][1].get()
    assert at.session_state[key] == "b1" and tree.node("b1").trace.generated_ids[2] == runner_up
    assert len(tree.node("b1").trace.moments) == 5  # 2 shared + forced + 2 after
    assert any(m.value.startswith("**Parent:**") for m in at.markdown)

    # branch the branch at the same moment, with typed text of two tokens
    prefix = controls(at)
    at.selectbox(key=f"{prefix}_choice").set_value(-1).run()
    at.text_input(key=f"{prefix}_typed").set_value(" bright blue").run()
    at.number_input(key=f"{prefix}_after").set_value(1)
    at.button(key=f"{prefix}_go").click().run()
    assert not at.exception, at.exception
    tree = at.session_state["branch_trees"][-1][1].get()
    second = tree.node("b2")
    assert second.parent == "b1" and at.session_state[key] == "b2"
    assert second.trace.info["branch"]["forced_tokens"] == [" bright", " blue"]
    assert [n.id for _, n in tree.walk()] == ["root", "b1", "b2"]
