"""Drawing what the model considered at one moment: the top-k bar chart and the logit lens heatmap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from tracing.core.token_text import MONO_FONT_STACK
from tracing.core.trace import DecodingSettings, Moment, Trace
from tracing.inspection.logit_lens import LogitLens

CHOSEN_COLOUR = "#ff4b4b"
ELIGIBLE_COLOUR = "#4c78a8"
CUT_COLOUR = "#c9ccd1"


def top_k_figure(trace: Trace, index: int, count: int = 12) -> go.Figure:
    """Horizontal bars of moment ``index``'s ``count`` most likely tokens, most likely on top: the chosen
    token red, tokens the sampling settings left eligible blue, tokens they cut off grey. Each token is read
    where it would stand (a byte that completes a character shows that character)."""
    moment: Moment = trace.moments[index]
    count = min(count, len(moment.top_ids))
    pieces = trace.candidate_pieces(index, moment.top_tokens[:count])
    labels, colours, hover = [], [], []
    for i in range(count):
        chosen = int(moment.top_ids[i]) == moment.token_id
        eligible = bool(moment.eligible_mask[i])
        # Axis labels must be unique; a rank prefix keeps equal-looking tokens apart.
        labels.append(f"{i + 1}. {pieces[i].label}")
        colours.append(CHOSEN_COLOUR if chosen else ELIGIBLE_COLOUR if eligible else CUT_COLOUR)
        status = "chosen" if chosen else "eligible" if eligible else "cut off by the sampling settings"
        hover.append("<br>".join(text for text in (status, pieces[i].note) if text))
    probs = [float(p) for p in moment.top_probs[:count]]
    return probability_bars(
        labels,
        probs,
        colours,
        [f"{p:.1%}" if p >= 0.001 else f"{p:.1e}" for p in probs],
        hovertemplate="%{y}: p = %{x:.4f}<br>%{customdata}<extra></extra>",
        customdata=hover,
    )


def probability_bars(
    labels: list[str],
    probs: list[float],
    colours: list[str],
    texts: list[str],
    hovertemplate: str = "%{y}: p = %{x:.4f}<extra></extra>",
    customdata: list[str] | None = None,
    headroom: float = 1.25,
) -> go.Figure:
    """Horizontal probability bars, first label on top, each bar annotated with its text outside the bar;
    ``headroom`` widens the axis past the longest bar so the annotations fit."""
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=labels,
            orientation="h",
            marker={"color": colours},
            text=texts,
            textposition="outside",
            cliponaxis=False,
            customdata=customdata,
            hovertemplate=hovertemplate,
        )
    )
    fig.update_layout(
        height=max(200, 24 * len(labels) + 50),
        margin={"l": 10, "r": 60 if headroom > 1.25 else 40, "t": 10, "b": 10},
        xaxis={
            "title": "probability",
            "range": [0, min(1.0, max(probs, default=1.0) * headroom + 0.02)],
            "fixedrange": True,
        },
        yaxis={
            "type": "category",
            "autorange": "reversed",
            "fixedrange": True,
            "tickfont": {"family": MONO_FONT_STACK},
        },
        dragmode=False,
        showlegend=False,
    )
    return fig


def cut_off_note(moment: Moment, settings: DecodingSettings, vocab_size: int | None) -> str:
    """One sentence on what the decoding settings left choosable at this moment."""
    if not settings.do_sample:
        return "Greedy decoding: only the most likely token could be chosen."
    filters = []
    if settings.temperature != 1.0:
        filters.append(f"temperature {settings.temperature:g}")
    if settings.top_k:
        filters.append(f"top-k {settings.top_k}")
    if settings.top_p < 1.0:
        filters.append(f"top-p {settings.top_p:g}")
    vocab = f" of {vocab_size:,}" if vocab_size else ""
    how = ", ".join(filters) if filters else "no filters"
    shown_cut = int((~np.asarray(moment.eligible_mask, dtype=bool)).sum())
    return (
        f"Sampling ({how}): {moment.eligible_count:,}{vocab} tokens were eligible; "
        f"{shown_cut} of the {len(moment.top_ids)} shown were cut off (grey)."
    )


def logit_lens_figure(lens: LogitLens, trace: Trace) -> go.Figure:
    """Layers (embeddings at the bottom) x columns: first the chosen token's probability at that layer
    (its rank in the cell), then the layer's top tokens, read where they would stand in ``trace``;
    colour = probability, text = token."""
    layers, k = lens.top_probs.shape
    names = [name.replace("layer ", "L") for name in lens.layer_names]
    chosen = trace.moment_piece(lens.moment_index)
    columns = [f"chosen {chosen.label}"] + [f"top {i + 1}" for i in range(k)]
    z = np.concatenate([lens.chosen_probs[:, None], lens.top_probs], axis=1)
    text = [
        [f"#{int(lens.chosen_ranks[row])}"]
        + [piece.label[:12] for piece in trace.candidate_pieces(lens.moment_index, lens.top_tokens[row])]
        for row in range(layers)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=columns,
            y=names,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10, "family": MONO_FONT_STACK},
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            colorbar={"thickness": 10, "len": 0.9, "tickfont": {"size": 10}, "title": {"text": "p", "side": "top"}},
            hovertemplate="%{y}, %{x}: <b>%{text}</b> p = %{z:.3f}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        height=max(260, 16 * layers + 70),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"side": "top", "fixedrange": True, "tickfont": {"size": 10}},
        yaxis={"fixedrange": True, "tickfont": {"size": 10}, "autorange": True},
        dragmode=False,
    )
    return fig
