"""Charts of two traces compared: the KL timeline with the first divergence marked, and the distribution
at the moment sampled paths part, with how many paths took each token."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import plotly.graph_objects as go

from components.probabilities import probability_bars
from components.timeline import pickable_chart
from tracing.core.trace import Trace
from tracing.experiments.comparison import Comparison
from tracing.experiments.consistency import Divergence

A_COLOUR = "#1f77b4"
B_COLOUR = "#ff7f0e"
SPLIT_COLOUR = "#e53935"
SELECTED_COLOUR = "#ff4b4b"


def kl_timeline_figure(comparison: Comparison, selected: int) -> go.Figure:
    """KL(a||b) and KL(b||a) per moment (nats); moments where the greedy picks differ get red markers, the
    first such moment a dashed line. Every point carries its moment index as ``customdata``."""
    moments = comparison.moments
    xs = [m.index for m in moments]
    lead = comparison.trace(comparison.lead)
    tokens = [piece.label for piece in lead.token_pieces()[lead.prompt_len :]]
    fig = go.Figure()
    for name, values, colour in (
        ("KL(a‖b)", comparison.kl_a_b, A_COLOUR),
        ("KL(b‖a)", comparison.kl_b_a, B_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=values,
                customdata=xs,
                name=name,
                mode="lines+markers",
                line={"color": colour, "width": 1.5},
                marker={"size": [10 if m.greedy_differs else 6 for m in moments], "color": colour},
                text=tokens,
                hovertemplate=f"moment %{{x}}: <b>%{{text}}</b><br>{name} = %{{y:.4f}} nats<extra></extra>",
            )
        )
    parted = [m.index for m in moments if m.greedy_differs]
    if parted:
        fig.add_trace(
            go.Scatter(
                x=parted,
                y=[max(comparison.kl_a_b[i], comparison.kl_b_a[i]) for i in parted],
                customdata=parted,
                name="greedy picks differ",
                mode="markers",
                marker={"size": 13, "color": "rgba(0,0,0,0)", "line": {"color": SPLIT_COLOUR, "width": 2}},
                hovertemplate="moment %{x}: the greedy picks differ<extra></extra>",
            )
        )
    split = comparison.first_greedy_divergence
    if split is not None:
        fig.add_vline(
            x=split,
            line={"color": SPLIT_COLOUR, "width": 1.5, "dash": "dash"},
            annotation_text="greedy picks part",
            annotation_position="top left",
            annotation_font={"size": 10, "color": SPLIT_COLOUR},
        )
    if 0 <= selected < len(moments):
        fig.add_vline(x=selected, line={"color": SELECTED_COLOUR, "width": 2})
    fig.update_layout(
        height=230,
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        xaxis={"title": "moment", "range": [-0.5, max(len(moments) - 0.5, 0.5)], "fixedrange": True},
        yaxis={"title": "KL (nats)", "rangemode": "tozero", "fixedrange": True},
        legend={"orientation": "h", "y": 1.08, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
        clickmode="event+select",
        dragmode=False,
        hovermode="closest",
    )
    return fig


def kl_timeline(comparison: Comparison, selected: int, key: str, on_pick: Callable[[int], None]) -> None:
    """Draws the KL timeline; clicking a point calls ``on_pick(moment)`` before the rerun."""
    pickable_chart(kl_timeline_figure(comparison, selected), key, on_pick)


def divergence_figure(divergence: Divergence, path: Trace, count: int = 10) -> go.Figure:
    """The distribution the paths shared where they parted (most likely on top), each bar labelled with how
    many paths took that token; tokens some path took are drawn red. ``path`` is any of the paths (they
    share every token before the divergence), so each token is read where it would stand."""
    taken = Counter(c.token_id for c in divergence.choices if c.token_id is not None)
    count = min(count, len(divergence.top_ids))
    ids = divergence.top_ids[:count]
    pieces = path.candidate_pieces(divergence.moment, divergence.top_tokens[:count])
    labels = [f"{i + 1}. {piece.label}" for i, piece in enumerate(pieces)]
    probs = [float(p) for p in divergence.top_probs[:count]]
    return probability_bars(
        labels,
        probs,
        [SPLIT_COLOUR if taken.get(i) else A_COLOUR for i in ids],
        [
            f"{p:.1%}" + (f" · {taken[i]} path{'s' * (taken[i] != 1)}" if taken.get(i) else "")
            for i, p in zip(ids, probs, strict=True)
        ],
        headroom=1.35,
    )
