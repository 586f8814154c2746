"""bertviz's head view and model view, rendered offline and kept small.

bertviz's HTML loads require.js from a CDN and asks require.js for d3 and jQuery from another. Here the
vendored copies (components/static/vendor/) are inlined instead: d3 and jQuery load first as globals and
are then defined as require.js modules, so nothing is fetched. The attention payload is rounded and
written as compact JSON, and layers are dropped until the page stays under ``budget_bytes``. Token labels
are read in context (a character split over tokens shows on each, ``小¹⁄₂``) in a font stack with CJK fonts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tracing.core.token_text import TEXT_FONT_STACK, token_labels

VENDOR = Path(__file__).parent / "static" / "vendor"
CDN_SCRIPT = re.compile(r"<script src=\"https://[^\"]*require[^\"]*\"></script>")
REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\);", re.DOTALL)
# bertviz fills its params into the code and, a second time, into the comment after it: keep one.
PARAMS = re.compile(r"const params = (\{.*?\}); // HACK[^\n]*", re.DOTALL)
DEFAULT_BUDGET = 2_000_000
VIEWS = ("head", "model")


@dataclass(frozen=True)
class BertvizPage:
    """A self-contained HTML page and what it shows."""

    html: str
    layers: tuple[int, ...]
    decimals: int
    dropped_layers: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return len(self.html.encode("utf-8"))


@lru_cache(maxsize=1)
def vendor_scripts() -> str:
    """d3 and jQuery as globals, then require.js, then both defined as modules for bertviz's ``requirejs``."""
    d3 = (VENDOR / "d3.min.js").read_text(encoding="utf-8")
    jquery = (VENDOR / "jquery.min.js").read_text(encoding="utf-8")
    require = (VENDOR / "require.js").read_text(encoding="utf-8")
    return (
        f"<script>{d3}</script>\n<script>{jquery}</script>\n<script>{require}</script>\n"
        "<script>define('d3', [], function () { return window.d3; });"
        "define('jquery', [], function () { return window.jQuery; });</script>\n"
    )


def _compact_json(params: dict) -> str:
    text = json.dumps(params, separators=(",", ":"), ensure_ascii=False)
    return re.sub(r"(?<=[,\[])0\.0(?=[,\]])", "0", text)


def offline_html(bertviz_html: str) -> str:
    """bertviz's returned HTML with the CDN script replaced by inline copies and its params compacted."""
    body = CDN_SCRIPT.sub("", bertviz_html)
    body = REQUIRE_CONFIG.sub("", body)
    match = PARAMS.search(body)
    if match:
        compact = _compact_json(json.loads(match.group(1)))
        body = body[: match.start(1)] + compact + ";" + body[match.end() :]
    if "https://" in body.split("<script", 1)[-1] and "cdnjs" in body:
        raise ValueError("bertviz's HTML still points at a CDN; its template changed.")
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>body{{margin:0;background:#fff;color:#222;font-family:{TEXT_FONT_STACK}}}</style></head><body>"
        f"{vendor_scripts()}{body}</body></html>"
    )


def _render(view: str, squares: np.ndarray, tokens: list[str], layers: list[int], decimals: int) -> str:
    import torch
    from bertviz import head_view, model_view

    rounded = np.round(squares.astype(np.float64), decimals)
    # bertviz takes a per-layer list of [1, heads, n, n]; only the included layers are serialised.
    attention = [torch.from_numpy(rounded[i : i + 1]) for i in range(rounded.shape[0])]
    draw = head_view if view == "head" else model_view
    result = draw(attention=attention, tokens=tokens, include_layers=layers, html_action="return")
    return offline_html(result.data)


def bertviz_page(
    view: str,
    squares: np.ndarray,
    tokens: list[str],
    layers: list[int],
    budget_bytes: int = DEFAULT_BUDGET,
) -> BertvizPage:
    """The head or model view of ``squares`` ``[layers, heads, n, n]`` for the chosen ``layers``.

    Weights are rounded to 3 decimals; if the page is then over ``budget_bytes``, to 2 decimals with
    layers dropped from the end until it fits (at least one layer always stays).
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if squares.shape[-1] != len(tokens) or squares.shape[-2] != len(tokens):
        raise ValueError(f"attention squares {squares.shape} do not match {len(tokens)} tokens")
    layers = sorted({int(layer) for layer in layers}) or [squares.shape[0] - 1]
    tokens = token_labels(tokens)
    overhead = len(vendor_scripts())
    decimals, kept = 3, list(layers)
    page = _render(view, squares, tokens, kept, decimals)
    if len(page.encode("utf-8")) > budget_bytes:
        decimals = 2
        while True:
            page = _render(view, squares, tokens, kept, decimals)
            size = len(page.encode("utf-8"))
            if size <= budget_bytes or len(kept) == 1:
                break
            # How many layers fit, estimated from this attempt's size per layer.
            per_layer = max((size - overhead) / len(kept), 1.0)
            fit = int((budget_bytes - overhead) // per_layer)
            kept = kept[: max(1, min(fit, len(kept) - 1))]
    dropped = tuple(layer for layer in layers if layer not in kept)
    return BertvizPage(page, tuple(kept), decimals, dropped)


def page_height(view: str, num_tokens: int, num_layers: int) -> int:
    """A frame height that shows the whole view without an inner scroll for short prefixes."""
    if view == "head":
        return min(120 + 23 * num_tokens, 1600)
    return min(100 + 90 * num_layers, 1600)
