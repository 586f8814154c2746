"""The side panels of two traces shown at one moment (Compare's two models, a branch beside its parent).

Each side draws the panels of ``SIDE_PANELS`` that its own trace has data for, one below the other, under
one head picked for both sides; a side whose trace ended earlier says so instead.
"""

from __future__ import annotations

import streamlit as st

from components.compare_sides import moment_attention, moment_choice
from page_glue.panels import PanelRegistry, has_attention
from tracing.core.trace import Trace

SIDE_PANELS = PanelRegistry()
Head = tuple[int, int] | None  # (layer, head) picked for both sides; None when the traces kept no attention


@SIDE_PANELS.register("probabilities", "Probabilities")
def choice_panel(trace: Trace, index: int, head: Head, key: str, note: str) -> None:
    moment_choice(trace, index, key, note)


@SIDE_PANELS.register("attention", "Attention", available=has_attention, missing="this trace kept no attention weights")
def attention_panel(trace: Trace, index: int, head: Head, key: str, note: str) -> None:
    if head is not None:
        moment_attention(trace, index, head, key)


def moment_side(trace: Trace, index: int, title: str, head: Head, key: str, note: str = "") -> None:
    """One trace's moment ``index`` under ``title``: the side panels its data allows, keyed under ``key``."""
    st.markdown(f"**{title}**")
    if index >= len(trace.moments):
        st.info(f"This trace ended after {len(trace.moments)} moments.")
        return
    shown, hidden = SIDE_PANELS.split(trace, index)
    for panel in shown:
        panel.draw(trace, index, head, key, note)
    for panel in hidden:
        st.caption(f"No {panel.title.lower()} panel: {panel.missing}.")
