"""Drawing an evaluation: each model's accuracy with its Wilson 95% interval, the reliability diagram
(confidence bins against accuracy), and the results table."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.plot_config import PLOT_CONFIG
from tracing.experiments.evaluation import Evaluation, reliability

FILTERS = {
    "All questions": lambda row: True,
    "Wrong only": lambda row: not all(row[k] for k in row if k.endswith("_correct")),
    "Fixed by the adapter": lambda row: row.get("fixed", False),
    "Broken by the adapter": lambda row: row.get("broken", False),
}
TABLE_COLUMNS = ("index", "question", "expected")
MODEL_COLUMNS = ("answer", "correct", "confidence", "departure", "agreement")


def summary(evaluation: Evaluation) -> None:
    """One metric per model: accuracy, correct out of all, the 95% interval; with two, fixed and broken."""
    cols = st.columns(len(evaluation.runs) + (1 if len(evaluation.runs) == 2 else 0))
    for col, run in zip(cols, evaluation.runs, strict=False):
        low, high = run.interval()
        col.metric(
            run.name,
            f"{run.accuracy:.1%}",
            help="Wilson score interval, 95%",
        )
        col.caption(f"{run.correct} of {len(run.results)} correct · 95% interval {low:.1%} to {high:.1%}")
    if len(evaluation.runs) == 2:
        rows = evaluation.rows()
        cols[-1].metric(
            "fixed / broken by the adapter", f"{sum(r['fixed'] for r in rows)} / {sum(r['broken'] for r in rows)}"
        )


def reliability_figure(evaluation: Evaluation) -> go.Figure:
    """Per model, accuracy against mean confidence in ten bins (marker size: questions in the bin), over the
    diagonal of perfect calibration."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated", line={"dash": "dot", "color": "#999"})
    )
    for run in evaluation.runs:
        bins = reliability(run.results)
        figure.add_trace(
            go.Scatter(
                x=[b.confidence for b in bins],
                y=[b.accuracy for b in bins],
                mode="lines+markers",
                name=run.name,
                marker={"size": [8 + 2 * min(b.count, 20) for b in bins]},
                customdata=[[b.count, b.low, b.high] for b in bins],
                hovertemplate="confidence %{customdata[1]:.1f}–%{customdata[2]:.1f}: %{customdata[0]} questions,"
                " accuracy %{y:.0%}<extra></extra>",
            )
        )
    figure.update_layout(
        xaxis={"title": "confidence (answer probability)", "range": [0, 1]},
        yaxis={"title": "accuracy", "range": [0, 1.05]},
        height=340,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": "Reliability", "font": {"size": 14}},
    )
    return figure


def reliability_chart(evaluation: Evaluation, key: str) -> None:
    st.plotly_chart(reliability_figure(evaluation), key=key, config=PLOT_CONFIG)


def results_frame(evaluation: Evaluation, filter_name: str) -> pd.DataFrame:
    """The table's rows that pass the filter, with the question, the known answer and each model's columns."""
    keep = FILTERS[filter_name]
    rows = [row for row in evaluation.rows() if keep(row)]
    prefixes = ["base", "tuned"] if len(evaluation.runs) == 2 else ["model"]
    columns = [*TABLE_COLUMNS, *(f"{p}_{c}" for p in prefixes for c in MODEL_COLUMNS)]
    if not evaluation.settings.paths:
        columns = [c for c in columns if not c.endswith("_agreement")]
    return pd.DataFrame(rows, columns=[*columns, *(c for c in ("fixed", "broken") if len(prefixes) == 2)])


def results_table(frame: pd.DataFrame, key: str) -> None:
    """The rows, sortable by any column (a click on its header)."""
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "index": st.column_config.NumberColumn("#", width="small"),
            **{
                c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.2f")
                for c in frame
                if c.endswith("_confidence")
            },
        },
    )
