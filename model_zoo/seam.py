"""The one way every analysis reaches a loaded model's module: the transformers model under a peft wrapper,
the keywords its forward accepts, the new position's attention rows, and the KV-cache step.

Decode, branch, compare, the logit lens and attribution all go through these; none keeps its own copy.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch


def base_module(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a peft wrapper, or the model itself."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def forward_keywords(model: torch.nn.Module) -> frozenset[str]:
    """The keyword arguments the model's forward accepts (a peft wrapper passes keywords on to its base)."""
    return frozenset(inspect.signature(base_module(model).forward).parameters)


def logits_to_keep(model: torch.nn.Module, count) -> dict:
    """The keyword that limits the logits to the last ``count`` positions (or to the positions in a tensor of
    indices), when the model takes it; else no keyword and the caller slices the logits itself."""
    return {"logits_to_keep": count} if "logits_to_keep" in forward_keywords(model) else {}


def attention_rows(attentions, query: int = -1) -> torch.Tensor | None:
    """``[layers, heads, keys]`` float16 on the CPU: query row ``query`` of every layer's attention (batch
    row 0), cut to the keys that position can see; None when the model returned no weights.

    ``attentions`` is a forward pass's ``out.attentions``: per layer ``[batch, heads, queries, keys]``.
    """
    if not attentions or any(a is None for a in attentions):
        return None
    queries, keys = attentions[0].shape[-2:]
    visible = keys if query < 0 else keys - queries + query + 1  # causal: a query sees keys up to itself
    return torch.stack([a[0, :, query, :visible] for a in attentions]).to(device="cpu", dtype=torch.float16)


@dataclass
class Step:
    """One forward pass of a KV-cache stream: the last position's logits and attention row."""

    logits: torch.Tensor  # [vocab], on the model's device, the model's dtype
    attention: np.ndarray | None  # float16 [layers, heads, keys], keys = every position read so far
    seconds: float  # the forward pass alone


# (absolute position of a forward's first token) -> a context entered around that forward, inside the lock
AroundForward = Callable[[int], AbstractContextManager]


class KVCacheSteps:
    """Decoding with the model's KV cache, as ``generate`` does: the first call reads a whole prefix, each
    later call the next token(s); every call returns the last position's logits and attention row.

    Holds the model's lock around each forward pass only, so two streams on one model interleave safely.
    This is one stream alone; `model_zoo.batching` serves many at once with the same interface.
    ``around`` (optional) wraps each forward, inside the lock: hooks it installs are in place for this
    stream's forward alone and gone before another stream's.
    """

    def __init__(self, loaded, attention: bool = True, around: AroundForward | None = None) -> None:
        from transformers import DynamicCache

        self.loaded = loaded
        self.attention = attention
        self.around = around
        self.cache = DynamicCache(config=loaded.model.config)
        self.extra = logits_to_keep(loaded.model, 1)

    def step(self, ids: Sequence[int]) -> Step:
        loaded = self.loaded
        inputs = torch.tensor([list(ids)], dtype=torch.long, device=loaded.device)
        started = time.perf_counter()
        with torch.inference_mode():
            with loaded.lock, self.around(self.cache.get_seq_length()) if self.around else nullcontext():
                out = loaded.model(
                    input_ids=inputs,
                    past_key_values=self.cache,
                    use_cache=True,
                    output_attentions=self.attention,
                    **self.extra,
                )
            seconds = time.perf_counter() - started
            rows = attention_rows(out.attentions) if self.attention else None
            # the full attention matrices go now (out is dropped on return), not at the next step
            return Step(out.logits[0, -1], None if rows is None else rows.numpy(), seconds)

    def close(self) -> None:
        self.cache = None

    def __enter__(self) -> KVCacheSteps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
