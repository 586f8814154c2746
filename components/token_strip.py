"""Token strips: readable tokens in boxes, coloured by a score, with spaces and newlines made visible.

`strip_html` builds the HTML (used as is for static strips with `st.html`); `clickable_strip` mounts it in
a small bidirectional component whose click on a token reports that token's index back to Python.
Token texts follow tracing/core/token_text.py (a newline is ``↵``, a special token ``⟨…⟩``) and a strip reads
its tokens in context: a character split over several tokens shows on each of them, underlined as a part
(the parts after the first faded) with its bytes in the hover. A space is drawn as a faint ``·``, an empty
token as ``∅``, and a line break follows every ``↵``, so the strip reads like the text it came from.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from tracing.core.token_text import EMPTY_TOKEN, MONO_FONT_STACK, VISIBLE_SPACE, TokenPiece, readable_pieces

# Low probability stands out: a confident token stays nearly white, a doubtful one turns red.
UNSURE_RGB = (229, 57, 53)
POSITIVE_RGB = (30, 110, 200)  # attribution pushing towards the chosen token
NEGATIVE_RGB = (214, 96, 20)  # attribution pushing away from it
HEAT_RGB = (110, 60, 190)  # attention weight

CSS = f"""
.ms-strip {{ font-family: {MONO_FONT_STACK}; font-size: 0.86rem;
  line-height: 1.9; word-break: break-word; color: inherit; }}
.ms-tok {{ display: inline-block; padding: 0 3px; margin: 1px 1px; border-radius: 4px; white-space: pre;
  border: 1px solid rgba(128, 128, 128, 0.25); line-height: 1.45; }}
.ms-tok.ms-click {{ cursor: pointer; }}
.ms-tok.ms-click:hover {{ border-color: rgba(128, 128, 128, 0.9); }}
.ms-tok.ms-sel {{ outline: 2.5px solid #ff4b4b; outline-offset: 1px; font-weight: 700; }}
.ms-tok.ms-special {{ border-style: dashed; font-style: italic; opacity: 0.75; }}
.ms-tok.ms-dim {{ opacity: 0.55; }}
.ms-tok.ms-mark {{ box-shadow: inset 0 -3px 0 #f9a825; }}
.ms-tok.ms-mark::before {{ content: ""; display: inline-block; width: 6px; height: 6px; border-radius: 50%;
  background: #f9a825; margin-right: 2px; vertical-align: super; }}
.ms-sp {{ opacity: 0.4; }}
.ms-legend {{ font-size: 0.75rem; opacity: 0.75; margin-top: 2px; }}
.ms-part {{ text-decoration: underline dotted; text-underline-offset: 3px; }}
.ms-part.ms-later {{ opacity: 0.45; }}
.ms-tok.ms-sel .ms-part.ms-later {{ opacity: 1; }}
.ms-frag {{ font-size: 0.78em; opacity: 0.7; }}
"""

JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector(".ms-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "ms-root";
    parentElement.appendChild(root);
  }
  root.innerHTML = data.html;
  root.querySelectorAll("[data-i]").forEach((el) => {
    el.onclick = () => setTriggerValue("clicked", Number(el.dataset.i));
  });
}
"""


@dataclass(frozen=True)
class StripToken:
    """One box: readable text, a background colour (CSS), a tooltip, and its click index (None: not clickable)."""

    text: str
    background: str = "transparent"
    title: str = ""
    index: int | None = None
    special: bool | None = None  # None: as the text says (``⟨…⟩``)
    dim: bool = False
    mark: bool = False  # an amber dot and underline: something is pinned here (a lesson's note)


def rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    alpha = min(max(float(alpha), 0.0), 1.0)
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha:.2f})"


def unsure_colour(prob: float) -> str:
    """Background for a chosen token of probability ``prob``: the less likely, the redder."""
    return rgba(UNSURE_RGB, 0.85 * (1.0 - prob) ** 1.5)


def diverging_colour(score: float, scale: float) -> str:
    """Blue for positive, orange for negative, transparent near zero; ``scale`` is the largest |score|."""
    if scale <= 0:
        return "transparent"
    strength = min(abs(score) / scale, 1.0)
    return rgba(POSITIVE_RGB if score >= 0 else NEGATIVE_RGB, 0.85 * strength)


def heat_colour(weight: float, scale: float) -> str:
    return "transparent" if scale <= 0 else rgba(HEAT_RGB, 0.9 * min(weight / scale, 1.0) ** 0.7)


def _token_inner(piece: TokenPiece) -> str:
    inner = []
    for text, part in piece.segments:
        if part is None:
            inner.append(html.escape(text).replace(" ", f'<span class="ms-sp">{VISIBLE_SPACE}</span>'))
        elif part.char:
            later = " ms-later" if part.part > 1 else ""
            inner.append(f'<span class="ms-part{later}">{html.escape(part.char)}</span>')
        else:
            inner.append(f'<span class="ms-frag">{html.escape(part.shown)}</span>')
    return "".join(inner) or f'<span class="ms-sp">{EMPTY_TOKEN}</span>'


def strip_html(tokens: Sequence[StripToken], selected: int | None = None, legend: str = "") -> str:
    """The strip's HTML: one span per token, its tokens read in context, a ``<br>`` after each newline token."""
    parts = ['<div class="ms-strip">']
    pieces = readable_pieces([token.text for token in tokens])
    for token, piece in zip(tokens, pieces, strict=True):
        classes = ["ms-tok"]
        if token.index is not None:
            classes.append("ms-click")
            if token.index == selected:
                classes.append("ms-sel")
        if token.special or (token.special is None and piece.special):
            classes.append("ms-special")
        if token.dim:
            classes.append("ms-dim")
        if token.mark:
            classes.append("ms-mark")
        data = f' data-i="{token.index}"' if token.index is not None else ""
        hover = "\n".join(text for text in (token.title, piece.note) if text)
        title = f' title="{html.escape(hover, quote=True)}"' if hover else ""
        parts.append(
            f'<span class="{" ".join(classes)}" style="background:{token.background}"{data}{title}>'
            f"{_token_inner(piece)}</span>"
        )
        if "↵" in token.text:
            parts.append("<br>")
    parts.append("</div>")
    if legend:
        parts.append(f'<div class="ms-legend">{html.escape(legend)}</div>')
    return "".join(parts)


def static_strip(tokens: Sequence[StripToken], legend: str = "") -> None:
    """A strip that only shows (no clicks), e.g. the generation while it grows or an attribution."""
    st.html(f"<style>{CSS}</style>{strip_html(tokens, legend=legend)}")


_component = st.components.v2.component("momentscope_token_strip", css=CSS, js=JS)


def clickable_strip(
    tokens: Sequence[StripToken],
    key: str,
    on_click: Callable[[int], None],
    selected: int | None = None,
    legend: str = "",
) -> None:
    """A strip whose clickable tokens call ``on_click(index)`` (in a callback, before the rerun)."""

    def clicked() -> None:
        value = (st.session_state.get(key) or {}).get("clicked")
        if value is not None:
            on_click(int(value))

    _component(
        key=key,
        data={"html": strip_html(tokens, selected, legend)},
        on_clicked_change=clicked,
    )
