"""The panel registry (page_glue/panels.py): panels keep their order, a panel shows only where its rule finds
its data, and a hidden panel is named with the reason; the Trace page's panels and the side panels of
Compare and the branch view follow the same rules."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from page_glue.panels import PanelRegistry, has_attention
from page_glue.side_panels import SIDE_PANELS
from page_glue.trace_panels import TRACE_PANELS
from tests.unit.tracing.core.test_trace import make_trace


def names(panels) -> list[str]:
    return [panel.name for panel in panels]


def test_panels_keep_their_order_and_a_name_is_taken_once():
    registry = PanelRegistry()
    for name in ("first", "second", "third"):
        registry.register(name, name.title())(lambda: None)
    assert names(registry) == ["first", "second", "third"]
    assert registry["second"].title == "Second"
    with pytest.raises(ValueError, match="second"):
        registry.register("second", "Again")(lambda: None)


def test_the_attention_panel_shows_only_where_the_moment_kept_its_weights():
    trace = make_trace()  # its moment 2 has no attention rows
    assert trace.moments[2].attention is None and trace.moments[1].attention is not None
    shown, hidden = TRACE_PANELS.split(trace, 1)
    assert names(shown) == ["attention", "probabilities", "attributions", "interventions"] and hidden == []
    shown, hidden = TRACE_PANELS.split(trace, 2)
    assert names(shown) == ["probabilities", "attributions", "interventions"]
    assert names(hidden) == ["attention"] and "attention weights" in hidden[0].missing
    assert not has_attention(trace, len(trace.moments))  # past the end there is nothing to show
    assert names(SIDE_PANELS.split(trace, 1)[0]) == ["probabilities", "attention"]
    assert names(SIDE_PANELS.split(trace, 2)[0]) == ["probabilities"]


def script():
    import streamlit as st

    from page_glue.panels import PanelRegistry, draw_in_columns
    from tests.unit.tracing.core.test_trace import make_trace

    registry = PanelRegistry()

    @registry.register(
        "attention",
        "Attention",
        available=lambda trace, moment: trace.moments[moment].attention is not None,
        missing="this moment kept no attention weights",
    )
    def attention(label: str) -> None:
        st.markdown(f"attention of {label}")

    @registry.register("probabilities", "Probabilities")
    def probabilities(label: str) -> None:
        st.markdown(f"probabilities of {label}")

    draw_in_columns(registry, make_trace(), st.session_state["moment"], "the test trace")


def panels_at(moment: int) -> AppTest:
    at = AppTest.from_function(script, default_timeout=30)
    at.session_state["moment"] = moment
    return at.run()


def test_a_page_draws_the_available_panels_under_their_titles_and_names_the_hidden():
    at = panels_at(1)
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["Attention", "Probabilities"]
    assert [m.value for m in at.markdown] == ["attention of the test trace", "probabilities of the test trace"]
    assert not at.caption

    at = panels_at(2)
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["Probabilities"]
    assert [m.value for m in at.markdown] == ["probabilities of the test trace"]
    assert [c.value for c in at.caption] == ["No attention panel: this moment kept no attention weights."]


def side_script():
    import streamlit as st

    from page_glue.side_panels import moment_side
    from tests.unit.tracing.core.test_trace import make_trace

    moment_side(make_trace(), st.session_state["moment"], "a: the test trace", (1, 0), key="side")


def side_at(moment: int) -> AppTest:
    at = AppTest.from_function(side_script, default_timeout=30)
    at.session_state["moment"] = moment
    return at.run()


def test_a_side_draws_the_panels_its_trace_has_data_for():
    at = side_at(1)
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # the top-k and the attention grid
    assert not any(c.value.startswith("No attention panel") for c in at.caption)

    at = side_at(2)
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1  # the top-k only
    assert any(c.value.startswith("No attention panel") for c in at.caption)

    at = side_at(5)
    assert not at.exception, at.exception
    assert not at.get("plotly_chart") and at.info[0].value == "This trace ended after 5 moments."
