"""Drawing several fine-tune jobs side by side: their loss curves (or any per-step series) overlaid, and a
table of only the settings in which they differ."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

# Settings that differ between any two jobs without saying anything about the run.
NOT_COMPARED = {"job_id", "store", "checkpoint_dir", "tensorboard_dir", "resume", "extra"}


def overlay_figure(curves: dict[str, list[tuple[int, float]]], *, y_title: str, title: str = "") -> go.Figure:
    """One line per ``label: [(step, value), ...]``."""
    fig = go.Figure()
    for label, points in curves.items():
        if points:
            steps, values = zip(*points, strict=True)
            fig.add_trace(go.Scatter(x=list(steps), y=list(values), mode="lines", name=label))
    fig.update_layout(
        title=title,
        height=320,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="step",
        yaxis_title=y_title,
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def settings_difference(configs: dict[str, dict]) -> pd.DataFrame:
    """One row per setting whose value is not the same in every job, one column per job."""
    keys = sorted({k for config in configs.values() for k in config} - NOT_COMPARED)
    rows = []
    for key in keys:
        values = {label: config.get(key) for label, config in configs.items()}
        if len({repr(v) for v in values.values()}) > 1:
            rows.append({"setting": key} | {label: "" if v is None else str(v) for label, v in values.items()})
    return pd.DataFrame(rows, columns=["setting", *configs])
