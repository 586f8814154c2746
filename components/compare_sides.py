"""Two traces side by side at one moment: for each, the chosen token with its top-k and an attention summary,
drawn with the trace page's components. The compare page and the branch panel show them as side panels
(page_glue/side_panels.py)."""

from __future__ import annotations

import streamlit as st

from components.attention import head_grid_figure, head_strip, top_attended
from components.plot_config import PLOT_CONFIG
from components.probabilities import top_k_figure
from tracing.core.token_text import token_label
from tracing.core.trace import Trace
from tracing.inspection.attention import head_summary, prefix_tokens


def head_picker(trace: Trace, key: str) -> tuple[int, int] | None:
    """One layer and head for both sides (so their attention rows are the same head); None without weights."""
    if trace.num_layers is None:
        return None
    cols = st.columns(2)
    layer = cols[0].number_input("Layer", 0, trace.num_layers - 1, value=trace.num_layers - 1, key=f"{key}_layer")
    head = cols[1].number_input("Head", 0, trace.num_heads - 1, value=0, key=f"{key}_head")
    return int(layer), int(head)


def moment_choice(trace: Trace, index: int, key: str, note: str = "") -> None:
    """What one trace chose (or read) at moment ``index``, and its top-k."""
    m = trace.moments[index]
    chosen = trace.moment_piece(index)
    st.markdown(
        f"`{chosen.label}` p = {m.prob:.3f} · rank {m.rank} · entropy {m.entropy:.2f} nats"
        + (f" · {note}" if note else "")
    )
    st.plotly_chart(top_k_figure(trace, index, count=8), config=PLOT_CONFIG, key=f"{key}_topk")


def moment_attention(trace: Trace, index: int, head: tuple[int, int], key: str) -> None:
    """One trace's attention at moment ``index``: the layers × heads grid with ``head`` marked, and that head's
    weights over the prefix. The moment must have kept its attention rows."""
    m = trace.moments[index]
    layer, head_index = head
    summary = head_summary(m.attention, trace.prompt_len, "generated")
    st.caption(f"Each cell: one head's {summary.label}.")
    st.plotly_chart(head_grid_figure(summary, layer, head_index), config=PLOT_CONFIG, key=f"{key}_grid")
    tokens = prefix_tokens(trace, index)
    weights = m.attention[layer, head_index].astype("float32")
    top = ", ".join(f"`{label}` {w:.2f}" for label, w in top_attended(tokens, weights, 3))
    st.markdown(f"Layer {layer}, head {head_index} looks most at {top}")
    head_strip(tokens, weights, trace.prompt_len)


def top_k_texts(trace: Trace, index: int) -> dict[int, str]:
    """Token id -> label for the ids recorded at a moment (its top-k and its chosen token), each read where
    it would stand."""
    m = trace.moments[index]
    ids = [int(i) for i in m.top_ids] + [m.token_id]
    pieces = trace.candidate_pieces(index, [*m.top_tokens, m.token])
    return {token_id: piece.label for token_id, piece in zip(ids, pieces, strict=True)}


def token_list(ids: list[int], labels: dict[int, str]) -> str:
    return ", ".join(f"`{labels.get(i) or token_label(f'id {i}')}`" for i in ids) or "none"
