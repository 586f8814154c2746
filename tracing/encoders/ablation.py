"""Ablating attention in a classifier: one head's output, or a whole layer's attention, zeroed before the
output dense at every position (the dense's bias stays), and the decision read again through the seam."""

from __future__ import annotations

import time

import numpy as np

from tracing.encoders.contributions import layout_of
from tracing.encoders.decision import check_classifier, encode
from tracing.encoders.results import EncoderAblation


def _zeroing(columns: slice):
    def hook(module, args):
        z = args[0].clone()
        z[..., columns] = 0
        return (z, *args[1:])

    return hook


def ablate(loaded, text: str, layer: int, head: int | None = None, *, pair: str | None = None) -> EncoderAblation:
    """The decision with head ``head`` of ``layer`` (or, with None, the layer's whole attention) removed."""
    check_classifier(loaded)
    layout = layout_of(loaded)
    layout.check_layer(layer)
    columns = slice(None) if head is None else layout.head_slice(layout.check_head(head))
    keywords = encode(loaded, text, pair).keywords
    started = time.perf_counter()
    clean = loaded.forward(**keywords).logits[0]
    projection = layout.output_projection(loaded.base_model, layer)
    with loaded.lock:
        hook = projection.register_forward_pre_hook(_zeroing(columns))
        try:
            ablated = loaded.forward(**keywords).logits[0]
        finally:
            hook.remove()
    return EncoderAblation(
        layer=int(layer),
        head=None if head is None else int(head),
        logits=ablated.float().cpu().numpy().astype(np.float32),
        clean_logits=clean.float().cpu().numpy().astype(np.float32),
        seconds=time.perf_counter() - started,
    )


def head_sweep(loaded, text: str, label: int, *, pair: str | None = None) -> np.ndarray:
    """float32 ``[layers, heads]``: the change in ``p(label)`` when each head alone is ablated."""
    layout = layout_of(loaded)
    out = np.zeros((layout.num_layers, layout.num_heads), dtype=np.float32)
    for layer in range(layout.num_layers):
        for head in range(layout.num_heads):
            result = ablate(loaded, text, layer, head, pair=pair)
            out[layer, head] = result.probs[label] - result.clean_probs[label]
    return out
