"""Drawing one moment through training: a probe moment's probability of its reference token step by step,
and which moments of a probe changed most between its first and latest reading.

``readings`` are the job store's probe rows: ``{step, probe, moment, token, prob, rank, entropy, top}``.
"""

from __future__ import annotations

import plotly.graph_objects as go

from tracing.core.token_text import TEXT_FONT_STACK, readable_pieces, span_text, token_labels

LAYOUT = dict(height=300, margin=dict(l=10, r=10, t=40, b=10), font=dict(family=TEXT_FONT_STACK))


def probe_moments(readings: list[dict], probe: int) -> dict[int, list[dict]]:
    """``{moment: [reading per step, in step order]}`` of one probe."""
    out: dict[int, list[dict]] = {}
    for row in sorted((r for r in readings if r["probe"] == probe), key=lambda r: (r["moment"], r["step"])):
        out.setdefault(row["moment"], []).append(row)
    return out


def moment_labels(moments: dict[int, list[dict]]) -> dict[int, str]:
    """Each moment's token read in the context of the whole answer (a character split over tokens shows on
    each of them, marked as a part), as the Trace page labels tokens."""
    order = sorted(moments)
    return dict(zip(order, token_labels([moments[m][-1]["token"] for m in order]), strict=True))


def answer_text(moments: dict[int, list[dict]]) -> str:
    """The probe's reference answer as text."""
    return span_text(readable_pieces([moments[m][-1]["token"] for m in sorted(moments)]))


def moment_rise_figure(rows: list[dict], title: str) -> go.Figure:
    """The reference token's probability (and its rank, on hover) at every checkpoint of one moment."""
    fig = go.Figure(
        go.Scatter(
            x=[r["step"] for r in rows],
            y=[r["prob"] for r in rows],
            mode="lines+markers",
            name="p(reference token)",
            customdata=[[r["rank"], r["entropy"], r["top"][0][0] if r["top"] else ""] for r in rows],
            hovertemplate="step %{x}<br>p %{y:.3f}<br>rank %{customdata[0]}<br>entropy %{customdata[1]:.2f}"
            "<br>top token %{customdata[2]}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="probability of the reference token", **LAYOUT)
    fig.update_yaxes(range=[0, 1.02])
    return fig


def moment_change_figure(moments: dict[int, list[dict]]) -> go.Figure:
    """Per moment, the change in the reference token's probability from the first reading to the latest."""
    shown = moment_labels(moments)
    labels = [f"{m}: {shown[m]}" for m in moments]
    change = [rows[-1]["prob"] - rows[0]["prob"] for rows in moments.values()]
    first, last = next(iter(moments.values()))[0]["step"], next(iter(moments.values()))[-1]["step"]
    fig = go.Figure(go.Bar(x=labels, y=change, marker_color=["#2a9d8f" if c >= 0 else "#e76f51" for c in change]))
    fig.update_layout(
        title=f"Change in p(reference token), step {first} to {last}", yaxis_title="Δ probability", **LAYOUT
    )
    return fig


def most_changed(moments: dict[int, list[dict]], count: int = 5) -> list[int]:
    """The moments whose probability moved most (in absolute value) from the first reading to the latest."""
    return sorted(moments, key=lambda m: -abs(moments[m][-1]["prob"] - moments[m][0]["prob"]))[:count]
