"""The timeline: the chosen token's probability and the entropy at every moment; a click picks a moment."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from components.plot_config import PLOT_CONFIG
from tracing.core.trace import Trace

PROB_COLOUR = "#1f77b4"
ENTROPY_COLOUR = "#ff7f0e"
UNSURE_COLOUR = "#e53935"
LOW_PROB = 0.5  # below this the chosen token gets a red marker


def timeline_figure(trace: Trace, selected: int) -> go.Figure:
    """Two lines over moments (probability on the left axis, entropy in nats on the right) and a marker
    on the selected moment. Every point carries its moment index as ``customdata``."""
    moments = trace.moments
    xs = list(range(len(moments)))
    probs = [m.prob for m in moments]
    tokens = [piece.label for piece in trace.token_pieces()[trace.prompt_len :]]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=probs,
            customdata=xs,
            name="p(chosen)",
            mode="lines+markers",
            line={"color": PROB_COLOUR, "width": 1.5},
            marker={
                "size": 7,
                "color": [UNSURE_COLOUR if p < LOW_PROB else PROB_COLOUR for p in probs],
            },
            text=tokens,
            hovertemplate="moment %{x}: <b>%{text}</b><br>p = %{y:.3f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[m.entropy for m in moments],
            customdata=xs,
            name="entropy (nats)",
            mode="lines+markers",
            yaxis="y2",
            line={"color": ENTROPY_COLOUR, "width": 1, "dash": "dot"},
            marker={"size": 5, "color": ENTROPY_COLOUR},
            text=tokens,
            hovertemplate="moment %{x}: <b>%{text}</b><br>entropy = %{y:.2f} nats<extra></extra>",
        )
    )
    if 0 <= selected < len(moments):
        fig.add_vline(x=selected, line={"color": "#ff4b4b", "width": 2})
    fig.update_layout(
        height=210,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": None, "range": [-0.5, max(len(moments) - 0.5, 0.5)], "fixedrange": True},
        yaxis={"title": "p(chosen)", "range": [0, 1.05], "fixedrange": True},
        yaxis2={
            "title": "entropy",
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
            "fixedrange": True,
        },
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
        clickmode="event+select",
        dragmode=False,
        hovermode="closest",
    )
    return fig


def selected_moment(state) -> int | None:
    """The moment index of the first clicked point in a plotly selection state, or None."""
    points = ((state or {}).get("selection") or {}).get("points") or []
    for point in points:
        value = point.get("customdata", point.get("x"))
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return None


def timeline(trace: Trace, selected: int, key: str, on_pick: Callable[[int], None]) -> None:
    """Draws the timeline; clicking a point calls ``on_pick(moment)`` before the rerun."""
    pickable_chart(timeline_figure(trace, selected), key, on_pick)


def pickable_chart(figure: go.Figure, key: str, on_pick: Callable[[int], None]) -> None:
    """A chart whose x axis is the moment: clicking a point calls ``on_pick(moment)`` before the rerun."""

    def picked() -> None:
        moment = selected_moment(st.session_state.get(key))
        if moment is not None:
            on_pick(moment)

    st.plotly_chart(figure, key=key, on_select=picked, selection_mode="points", config=PLOT_CONFIG)
