"""Drawing one moment's attention: a layers x heads grid summary and one head's weights over the tokens."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.token_strip import StripToken, heat_colour, static_strip
from tracing.core.token_text import token_labels
from tracing.inspection.attention import HeadSummary

GRID_SCALE = "Purples"


def head_grid_figure(summary: HeadSummary, layer: int, head: int) -> go.Figure:
    """Heatmap ``[layers, heads]`` of the summary (layer 0 at the bottom), the picked head outlined."""
    values = summary.values
    layers, heads = values.shape
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=list(range(heads)),
            y=list(range(layers)),
            zmin=0.0,
            zmax=summary.vmax,
            colorscale=GRID_SCALE,
            colorbar={"thickness": 10, "len": 0.9, "tickfont": {"size": 10}},
            hovertemplate="layer %{y}, head %{x}: %{z:.2f}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.add_shape(
        type="rect",
        x0=head - 0.5,
        x1=head + 0.5,
        y0=layer - 0.5,
        y1=layer + 0.5,
        line={"color": "#ff4b4b", "width": 2},
    )
    fig.update_layout(
        height=max(220, min(14 * layers + 60, 460)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "head", "dtick": 1 if heads <= 16 else None, "fixedrange": True},
        yaxis={"title": "layer", "fixedrange": True},
        dragmode=False,
    )
    return fig


def head_strip(tokens: list[str], weights: np.ndarray, prompt_len: int, specials: set[int] | None = None) -> None:
    """One head's attention over the prefix as a heat strip (darker = more weight); the prompt is dimmed
    slightly so the generated part stands apart. ``specials``: positions of special tokens (default: as
    their texts say)."""
    weights = np.asarray(weights, dtype=np.float32)
    scale = float(weights.max()) if weights.size else 0.0
    boxes = [
        StripToken(
            text=text,
            background=heat_colour(float(w), scale),
            title=f"position {i}: {float(w):.3f}",
            special=None if specials is None else i in specials,
            dim=i < prompt_len and float(w) < 0.02 * scale,
        )
        for i, (text, w) in enumerate(zip(tokens, weights, strict=True))
    ]
    static_strip(boxes, legend=f"darker = more attention (max {scale:.2f}); hover a token for its weight")


def top_attended(tokens: list[str], weights: np.ndarray, count: int = 5) -> list[tuple[str, float]]:
    """The ``count`` tokens with the most weight, most first, as labels read in context (``小¹⁄₂``)."""
    labels = token_labels(tokens)
    order = np.argsort(-np.asarray(weights, dtype=np.float32))[:count]
    return [(labels[i], float(weights[i])) for i in order]
