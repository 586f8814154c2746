"""bertviz's neuron view (queries, keys and their products for one head), rendered offline as the head and
model views are (`components.bertviz_view.offline_html`: the vendored d3, jQuery and require.js inlined)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from components.bertviz_view import offline_html
from tracing.core.token_text import token_labels

NEURON_HEIGHT_PER_TOKEN = 24


def neuron_page(attention: np.ndarray, queries: np.ndarray, keys: np.ndarray, tokens: list[str], layer: int,
                head: int) -> str:  # fmt: skip
    """The neuron view of ``attention`` ``[layers, heads, n, n]`` with ``queries`` and ``keys`` ``[layers,
    heads, n, head_dim]``, opened at ``layer`` and ``head``."""
    import bertviz

    labels = token_labels(tokens)
    params = {
        "attention": {
            "all": {
                "attn": np.round(attention.astype(np.float64), 3).tolist(),
                "queries": np.round(queries.astype(np.float64), 3).tolist(),
                "keys": np.round(keys.astype(np.float64), 3).tolist(),
                "left_text": labels,
                "right_text": labels,
            }
        },
        "default_filter": "all",
        "root_div_id": "bertviz-neuron",
        "bidirectional": True,
        "display_mode": "light",
        "layer": int(layer),
        "head": int(head),
    }
    script = (Path(bertviz.__file__).parent / "neuron_view.js").read_text(encoding="utf-8")
    body = (
        '<div id="bertviz-neuron" style="padding:8px"><span style="user-select:none">'
        '<span class="dropdown-label">Layer: </span><select id="layer"></select> '
        '<span class="dropdown-label">Head: </span><select id="att_head"></select></span>'
        "<div id='vis'></div></div>"
        f"<script>window.bertviz_params = {json.dumps(params, separators=(',', ':'), ensure_ascii=False)};</script>"
        f"<script>{script}</script>"
    )
    return offline_html(body)


def neuron_height(num_tokens: int) -> int:
    return min(160 + NEURON_HEIGHT_PER_TOKEN * num_tokens, 1600)
