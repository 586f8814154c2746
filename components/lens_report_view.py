"""Drawing a lens report: per layer, KL to the model's output (log scale) and top-1 agreement with it, the
logit lens against the tuned lens."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tracing.inspection.tuned_lens.report import LensReport

LOGIT_COLOUR, TUNED_COLOUR = "#9e9e9e", "#1e88e5"


def lens_report_figure(report: LensReport) -> go.Figure:
    names = [name.replace("layer ", "L") for name in report.layer_names]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("KL to the output (nats)", "top-1 agrees with the output"))
    for label, colour, kl, top1 in (
        ("logit lens", LOGIT_COLOUR, report.logit_kl, report.logit_top1),
        ("tuned lens", TUNED_COLOUR, report.tuned_kl, report.tuned_top1),
    ):
        fig.add_trace(go.Scatter(x=names, y=[max(v, 1e-4) for v in kl], name=label, line={"color": colour},
                                 mode="lines+markers", legendgroup=label), row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=names, y=top1, name=label, line={"color": colour}, mode="lines+markers",
                                 legendgroup=label, showlegend=False), row=1, col=2)  # fmt: skip
    fig.update_yaxes(type="log", row=1, col=1, fixedrange=True)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2, fixedrange=True)
    fig.update_xaxes(fixedrange=True, tickangle=-60, tickfont={"size": 9})
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, dragmode=False,
                      legend={"orientation": "h", "y": -0.35})  # fmt: skip
    return fig
