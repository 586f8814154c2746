"""Drawing branches: a branch's tokens with its forced tokens marked, and a tree picker's labels."""

from __future__ import annotations

import streamlit as st

from components.token_strip import CSS, StripToken, strip_html, unsure_colour
from tracing.core.trace import Trace
from tracing.experiments.branch_tree import BranchNode, forced_moments

FORCED_COLOUR = "#ffd54f"
SNIPPET_CHARS = 48
EM_SPACE = "\u2003"


def branch_strip(trace: Trace, selected: int, shared_until: int | None = None, legend: str = "") -> None:
    """The generated tokens: forced ones yellow, the rest by how unsure the model was; the moments shared
    with the parent (before ``shared_until``) dimmed, and the selected moment outlined."""
    forced = set(forced_moments(trace))
    boxes = [
        StripToken(
            text=m.token,
            background=FORCED_COLOUR if m.index in forced else unsure_colour(m.prob),
            title=f"moment {m.index}: p = {m.prob:.3f}, rank {m.rank}" + (" (forced)" if m.index in forced else ""),
            index=m.index if m.index == selected else None,
            dim=shared_until is not None and m.index < shared_until,
        )
        for m in trace.moments
    ]
    legend = legend or "yellow = forced; dimmed = shared with the trace it branched from"
    st.html(f"<style>{CSS}</style>{strip_html(boxes, selected, legend)}")


def node_label(depth: int, node: BranchNode) -> str:
    """One line of a tree picker: indentation by depth, where the branch parts, and how its text starts."""
    text = node.trace.text.replace("\n", " ")
    snippet = text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
    indent = EM_SPACE * depth + ("└ " if depth else "")
    return f"{indent}{node.label} — {snippet!r}"
