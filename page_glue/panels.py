"""Panels a page shows for its chosen moment, each with the rule that says when the trace has its data.

As LIT's ``shouldDisplayModule``: a panel registers with a name, a title and an availability rule over the
trace and the moment; a page loops over the panels available and names those it hides and why, so an absent
panel never looks like a broken one. Adding a panel is registering one draw function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from tracing.core.trace import Trace

Rule = Callable[[Trace, int], bool]  # (trace, moment index) -> whether the panel has data to show
Draw = TypeVar("Draw", bound=Callable[..., None])


def always(trace: Trace, moment: int) -> bool:
    return True


def has_attention(trace: Trace, moment: int) -> bool:
    """The moment kept its attention rows (an attention implementation without weights keeps none)."""
    return moment < len(trace.moments) and trace.moments[moment].attention is not None


@dataclass(frozen=True)
class Panel:
    name: str
    title: str
    draw: Callable[..., None]
    available: Rule
    missing: str  # why it is hidden when its rule says no, e.g. "this trace kept no attention weights"
    wide: bool = False  # drawn across the page below the side-by-side panels


class PanelRegistry:
    """The panels of one page, in the order they were registered (the order the page shows them)."""

    def __init__(self) -> None:
        self._panels: dict[str, Panel] = {}

    def register(
        self, name: str, title: str, *, available: Rule = always, missing: str = "", wide: bool = False
    ) -> Callable[[Draw], Draw]:
        """A decorator that adds its draw function as panel ``name``; the function itself is unchanged."""

        def add(draw: Draw) -> Draw:
            if name in self._panels:
                raise ValueError(f"A panel named {name!r} is registered already.")
            self._panels[name] = Panel(name, title, draw, available, missing, wide)
            return draw

        return add

    def __iter__(self) -> Iterator[Panel]:
        return iter(self._panels.values())

    def __getitem__(self, name: str) -> Panel:
        return self._panels[name]

    def split(self, trace: Trace, moment: int) -> tuple[list[Panel], list[Panel]]:
        """(panels available at ``moment`` of ``trace``, panels hidden there), each in registration order."""
        shown, hidden = [], []
        for panel in self:
            (shown if panel.available(trace, moment) else hidden).append(panel)
        return shown, hidden


def draw_in_columns(registry: PanelRegistry, trace: Trace, moment: int, *args: Any) -> None:
    """The available panels side by side, each under its title, called as ``draw(*args)``; one line names
    each hidden panel and why.

    Each panel runs as a fragment of its own: a widget inside it (Attribute, a method, the logit lens, a head)
    reruns that panel alone, not the page and the other panels' charts. A wide panel goes across the page
    below the others."""
    shown, hidden = registry.split(trace, moment)
    for panel in hidden:
        st.caption(f"No {panel.title.lower()} panel: {panel.missing}.")
    narrow = [panel for panel in shown if not panel.wide]
    if narrow:
        for column, panel in zip(st.columns(len(narrow), gap="medium", border=True), narrow, strict=True):
            with column:
                st.subheader(panel.title, anchor=False)
                st.fragment(panel.draw)(*args)
    for panel in shown:
        if panel.wide:
            with st.container(border=True):
                st.subheader(panel.title, anchor=False)
                st.fragment(panel.draw)(*args)
