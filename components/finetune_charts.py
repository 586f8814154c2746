"""Drawing a fine-tune job's curves: training loss per step and validation loss at each evaluation."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st


def loss_figure(metrics: dict[str, list[tuple[int, float]]]) -> go.Figure:
    """Training loss (line) and validation loss (markers) against the step; ``metrics`` as the job store gives."""
    fig = go.Figure()
    for name, label, mode in (("loss", "training loss", "lines"), ("val_loss", "validation loss", "lines+markers")):
        points = metrics.get(name, [])
        if points:
            steps, values = zip(*points, strict=True)
            fig.add_trace(go.Scatter(x=list(steps), y=list(values), mode=mode, name=label))
    fig.update_layout(
        height=300,
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis_title="step",
        yaxis_title="loss",
        legend=dict(orientation="h", y=1.12),
    )
    return fig


def draw_loss_chart(metrics: dict[str, list[tuple[int, float]]], *, key: str) -> None:
    if not metrics.get("loss"):
        st.caption("The loss curve appears after the first training step.")
        return
    st.plotly_chart(loss_figure(metrics), key=key, width="stretch")
