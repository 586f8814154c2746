"""Drawing a classifier's decision: each class's probability, the same under an ablation, or for a base and its
fine-tune side by side. Input: `tracing.encoders.results` types (torch-free)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.probabilities import probability_bars
from tracing.encoders.results import Decision

CHOSEN, OTHER, BEFORE = "#ff4b4b", "#8a8fa3", "#c9ccd6"


def class_bars(decision: Decision) -> go.Figure:
    """One bar per class, the predicted one in red."""
    probs = [float(p) for p in decision.probs]
    colours = [CHOSEN if i == decision.predicted else OTHER for i in range(len(probs))]
    return probability_bars(decision.labels, probs, colours, [f"{p:.3f}" for p in probs])


def paired_bars(labels: list[str], before: np.ndarray, after: np.ndarray, names: tuple[str, str]) -> go.Figure:
    """Two bars per class (``names``: what each set is, e.g. clean / ablated, base / fine-tuned)."""
    fig = go.Figure()
    for values, name, colour in ((before, names[0], BEFORE), (after, names[1], CHOSEN)):
        fig.add_bar(
            x=[float(v) for v in values],
            y=labels,
            name=name,
            orientation="h",
            marker={"color": colour},
            text=[f"{float(v):.3f}" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"{name}, %{{y}}: p = %{{x:.4f}}<extra></extra>",
        )
    fig.update_layout(
        barmode="group",
        height=max(220, 44 * len(labels) + 70),
        margin={"l": 10, "r": 50, "t": 10, "b": 10},
        xaxis={"title": "probability", "range": [0, 1.15], "fixedrange": True},
        yaxis={"type": "category", "autorange": "reversed", "fixedrange": True},
        legend={"orientation": "h", "y": -0.25},
        dragmode=False,
    )
    return fig


def confusion_figure(matrix: np.ndarray, labels: list[str]) -> go.Figure:
    """Counts ``[gold, predicted]`` as a heatmap, each cell's count written in it."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="gold %{y}, predicted %{x}: %{z}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_layout(
        height=max(220, 50 * len(labels) + 90),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "predicted", "fixedrange": True, "side": "top"},
        yaxis={"title": "gold", "autorange": "reversed", "fixedrange": True},
        dragmode=False,
    )
    return fig
