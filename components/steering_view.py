"""Drawing a steering sweep: strength x moment, each cell the token the steered model chose there, coloured
where it differs from the unsteered path (strength 0), with its probability on hover."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from tracing.core.token_text import MONO_FONT_STACK
from tracing.inspection.steering.results import SteeringSweep

SAME, CHANGED = "#eef2f7", "#ff8a65"


def sweep_figure(sweep: SteeringSweep) -> go.Figure:
    """Heatmap ``[strengths, moments]``: orange where the chosen token differs from strength 0's."""
    changed = sweep.changed.astype(np.float32)
    moments = [sweep.first_moment + i for i in range(changed.shape[1])]
    labels = [[token.replace("\n", "⏎") for token in row] for row in sweep.tokens]
    rows = [f"{s:+g}" for s in sweep.strengths]
    fig = go.Figure(
        go.Heatmap(
            z=changed,
            x=moments,
            y=rows,
            text=labels,
            texttemplate="%{text}",
            textfont={"family": MONO_FONT_STACK, "size": 11},
            customdata=sweep.probs,
            colorscale=[[0.0, SAME], [1.0, CHANGED]],
            zmin=0.0,
            zmax=1.0,
            showscale=False,
            hovertemplate="strength %{y}, moment %{x}: %{text} (p = %{customdata:.3f})<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        height=max(180, min(28 * len(rows) + 80, 560)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "moment", "fixedrange": True, "side": "top", "dtick": 1},
        yaxis={"title": "strength", "fixedrange": True, "type": "category"},
        dragmode=False,
    )
    return fig
