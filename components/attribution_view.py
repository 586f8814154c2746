"""Drawing an attribution: how much each earlier token pushed the model towards its choice.

Blue tokens pushed towards the chosen token, orange ones away from it; the strength of the colour is the
size of the score relative to the largest one. Specials and the prompt are shown like everywhere else.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from components.token_strip import StripToken, diverging_colour, static_strip
from tracing.core.token_text import token_labels


def strongest(tokens: list[str], scores: np.ndarray, count: int = 3) -> tuple[list[tuple[str, float]], ...]:
    """The ``count`` most positive and most negative (label, score) pairs, strongest first; the labels are
    the tokens read in context (``小¹⁄₂``)."""
    labels = token_labels(tokens)
    order = np.argsort(scores)
    positive = [(labels[i], float(scores[i])) for i in order[::-1][:count] if scores[i] > 0]
    negative = [(labels[i], float(scores[i])) for i in order[:count] if scores[i] < 0]
    return positive, negative


def _listed(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"`{label}` {score:+.3g}" for label, score in pairs) or "none"


def attribution_strip(tokens: list[str], scores: np.ndarray, specials: set[int], prompt_len: int) -> None:
    """The prefix as a diverging colour strip, then the strongest tokens either way."""
    scores = np.asarray(scores, dtype=np.float32)
    if len(scores) != len(tokens):
        raise ValueError(f"{len(scores)} scores for {len(tokens)} tokens")
    scale = float(np.abs(scores).max()) if scores.size else 0.0
    boxes = [
        StripToken(
            text=text,
            background=diverging_colour(float(score), scale),
            title=f"position {i}{' (prompt)' if i < prompt_len else ''}: {float(score):+.4g}",
            special=i in specials,
        )
        for i, (text, score) in enumerate(zip(tokens, scores, strict=True))
    ]
    static_strip(boxes, legend="blue = pushed towards the chosen token, orange = away from it; hover for the score")
    positive, negative = strongest(tokens, scores)
    st.markdown(f"**Towards:** {_listed(positive)}  \n**Away:** {_listed(negative)}")
