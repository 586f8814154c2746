"""Attention knockout: the moment's position may not attend to tokens the user picks, in every layer or in
chosen ones. The blocked keys get, in each chosen layer's attention mask, the value a causal mask gives the
future, so the softmax spreads the position's attention over the tokens it may still see.

Like an ablation at the moment's position, a knockout recomputes that position alone on the prefix's cache
(`ablation.intervene` carries out both); decoding on under it, every later position is blocked too.
"""

from __future__ import annotations

from tracing.inspection.interventions.hooks import CleanMeans, Edits, Rows, installs
from tracing.inspection.interventions.specs import Knockout


@installs(Knockout)
def install_knockout(edits: Edits, knockout: Knockout, rows: Rows, position: int, clean: CleanMeans | None) -> None:
    layers = range(edits.layout.num_layers) if knockout.layers is None else knockout.layers
    for layer in layers:
        edits.block_keys(edits.layout.attention(edits.model, layer), rows, position, knockout.keys)
