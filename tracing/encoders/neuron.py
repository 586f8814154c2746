"""The query and key vectors of every head, for bertviz's neuron view, computed as bertviz's own BERT example
does: each layer's query and key projections of its input, split into heads (``[heads, tokens, head_dim]``),
before any scaling. In BERT, RoBERTa, XLM-R and ELECTRA, ``softmax(q · k / sqrt(head_dim))`` over the real
tokens is the attention itself; DistilBERT scales its queries first and DeBERTa-v2 adds relative-position
terms, so there the dot products are a part of the scores."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from tracing.encoders.contributions import layout_of
from tracing.encoders.decision import check_classifier, encode


@dataclass
class QueriesKeys:
    queries: np.ndarray  # float32 [layers, heads, tokens, head_dim]
    keys: np.ndarray  # float32 [layers, heads, tokens, head_dim]


def queries_and_keys(loaded, text: str, pair: str | None = None) -> QueriesKeys:
    """Every layer's queries and keys for ``text`` (and ``pair``), from one forward through the seam."""
    check_classifier(loaded)
    layout = layout_of(loaded)
    query_name, key_name = (name.strip() for name in layout.family.qkv.split(",")[:2])
    kept: dict[str, list] = {"queries": [], "keys": []}

    def keep(store: list):
        return lambda module, args, out: store.append(out[0].detach().float().cpu())

    with loaded.lock, ExitStack() as stack:
        for layer in range(layout.num_layers):
            attention = layout.attention(loaded.base_model, layer)
            for name, store in ((query_name, kept["queries"]), (key_name, kept["keys"])):
                stack.callback(getattr(attention, name).register_forward_hook(keep(store)).remove)
        loaded.forward(**encode(loaded, text, pair).keywords)

    def heads(rows: list) -> np.ndarray:
        stacked = np.stack([r.numpy() for r in rows])  # [layers, tokens, heads * head_dim]
        layers, tokens, _ = stacked.shape
        return stacked.reshape(layers, tokens, layout.num_heads, layout.head_dim).transpose(0, 2, 1, 3).copy()

    return QueriesKeys(heads(kept["queries"]), heads(kept["keys"]))
