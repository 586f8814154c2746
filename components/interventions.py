"""Drawing interventions at a moment: a layers x heads grid with an MLP column (contributions, or the change
an ablation makes), the patching heatmap (layer x position, tokens read in context) and the commitment
heatmap (moments x layers, the deciding layer marked; every cell carries its moment for a click)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from tracing.core.token_text import MONO_FONT_STACK, token_labels
from tracing.core.trace import Trace
from tracing.inspection.interventions.results import Commitment, Patching

DIVERGING = "RdBu"  # red below 0, blue above, white at 0
DECIDED_COLOUR = "#ff4b4b"


def component_grid_figure(heads: np.ndarray, mlps: np.ndarray, label: str) -> go.Figure:
    """Heatmap ``[layers, heads + 1]``: each head, then the layer's MLP in the last column (layer 0 at the
    bottom); diverging colours centred at 0, ``label`` naming the number on the colour bar."""
    layers, count = heads.shape
    z = np.concatenate([heads, mlps[:, None]], axis=1).astype(np.float32)
    scale = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    columns = [f"h{h}" for h in range(count)] + ["MLP"]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=columns,
            y=list(range(layers)),
            zmid=0.0,
            zmin=-scale,
            zmax=scale,
            colorscale=DIVERGING,
            colorbar={"thickness": 10, "len": 0.9, "tickfont": {"size": 10}, "title": {"text": label, "side": "right"}},
            hovertemplate="layer %{y}, %{x}: %{z:+.3f}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.add_vline(x=count - 0.5, line={"color": "#555", "width": 1.5})
    fig.update_layout(
        height=max(260, min(14 * layers + 70, 520)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "head · MLP", "fixedrange": True, "side": "top"},
        yaxis={"title": "layer", "fixedrange": True},
        dragmode=False,
    )
    return fig


def patching_figure(result: Patching) -> go.Figure:
    """Heatmap layer x position of the share of the clean-vs-corrupted difference each patch restores;
    columns labelled with the tokens (an edited one as ``clean→corrupted``)."""
    clean = token_labels(result.clean_tokens)
    corrupted = token_labels(result.corrupted_tokens)
    changed = set(int(p) for p in result.changed)
    columns = [
        f"{p} {clean[p]}→{corrupted[p]}" if p in changed else f"{p} {clean[p]}" for p in map(int, result.positions)
    ]
    restored = result.restored
    fig = go.Figure(
        go.Heatmap(
            z=restored,
            x=columns,
            y=[int(layer) for layer in result.layers],
            zmid=0.0,
            zmin=-1.0,
            zmax=1.0,
            colorscale=DIVERGING,
            colorbar={"thickness": 10, "len": 0.9, "title": {"text": "restored", "side": "right"}},
            customdata=result.metric,
            hovertemplate="layer %{y}, %{x}: restores %{z:.0%} (score %{customdata:+.3f})<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        height=max(280, min(14 * len(result.layers) + 120, 560)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"type": "category", "tickfont": {"family": MONO_FONT_STACK, "size": 11}, "fixedrange": True},
        yaxis={"title": "layer (its input patched)", "fixedrange": True},
        dragmode=False,
    )
    return fig


def commitment_figure(result: Commitment, trace: Trace, selected: int) -> go.Figure:
    """Heatmap moments (rows, moment 0 on top) x layers of the chosen token's logit-lens rank (log scale,
    dark = top guess), a marker on each moment's deciding layer, the selected moment outlined. Every cell
    has a transparent marker carrying its moment index as ``customdata``, so a click selects that moment."""
    moments, columns = result.ranks.shape
    tokens = [piece.label for piece in trace.token_pieces()[trace.prompt_len :]][:moments]
    rows = [f"{m} {tokens[m]}" for m in range(moments)]
    names = [name.replace("layer ", "L") for name in result.layer_names]
    fig = go.Figure(
        go.Heatmap(
            z=np.log10(result.ranks.astype(np.float64)),
            x=names,
            y=rows,
            text=result.ranks,
            colorscale="Viridis_r",
            zmin=0.0,
            colorbar={"thickness": 10, "len": 0.9, "title": {"text": "log10 rank", "side": "right"}},
            hoverinfo="skip",  # the cells' markers carry the hover: a heatmap cell cannot be selected
            xgap=1,
            ygap=1,
        )
    )
    cells_x = [names[c] for m in range(moments) for c in range(columns)]
    cells_y = [rows[m] for m in range(moments) for _ in range(columns)]
    fig.add_trace(
        go.Scatter(
            x=cells_x,
            y=cells_y,
            customdata=[m for m in range(moments) for _ in range(columns)],
            text=result.ranks.reshape(-1),
            mode="markers",
            # Invisible but hoverable: a click selects only a point under the pointer that takes hover events
            # ("skip" would leave the click to the heatmap, which plotly cannot select; checked in Chromium).
            marker={"size": 14, "opacity": 0.0},
            hovertemplate="%{y} at %{x}: rank %{text}<extra></extra>",
            showlegend=False,
        )
    )
    decided = [(m, int(c)) for m, c in enumerate(result.deciding_layer) if c >= 0]
    fig.add_trace(
        go.Scatter(
            x=[names[c] for _, c in decided],
            y=[rows[m] for m, _ in decided],
            customdata=[m for m, _ in decided],
            mode="markers",
            marker={"symbol": "x-thin", "size": 9, "line": {"width": 2, "color": DECIDED_COLOUR}},
            name="decided here",
            hovertemplate="%{y}: decided at %{x}<extra></extra>",
        )
    )
    if 0 <= selected < moments:
        fig.add_shape(
            type="rect",
            x0=-0.5,
            x1=columns - 0.5,
            y0=selected - 0.5,
            y1=selected + 0.5,
            line={"color": DECIDED_COLOUR, "width": 2},
        )
    fig.update_layout(
        height=max(260, min(18 * moments + 90, 900)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"type": "category", "side": "top", "fixedrange": True, "tickfont": {"size": 10}},
        yaxis={"type": "category", "autorange": "reversed", "fixedrange": True,
               "tickfont": {"family": MONO_FONT_STACK, "size": 11}},
        legend={"orientation": "h", "y": -0.02, "yanchor": "top", "x": 0},
        clickmode="event+select",
        dragmode=False,
    )  # fmt: skip
    return fig
