"""The one way every analysis reaches a loaded model's module: the transformers model under a peft wrapper,
the keywords its forward accepts, the one forward every engine module runs (`run_forward`), the new
position's attention rows, and the KV-cache step.

Decode, branch, compare, the logit lens, attribution and the interventions all go through these; none keeps
its own copy, and none reads the attention implementation but `attention_implementation`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
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


def input_device(model: torch.nn.Module) -> torch.device:
    """Where the model's input ids go: its input embeddings' device, or the device accelerate runs them on
    when it offloaded them (their weights then wait on the meta device)."""
    embed = base_module(model).get_input_embeddings()
    execution = getattr(getattr(embed, "_hf_hook", None), "execution_device", None)
    return torch.device(execution) if execution is not None else embed.weight.device


def logits_to_keep(model: torch.nn.Module, count) -> dict:
    """The keyword that limits the logits to the last ``count`` positions (or to the positions in a tensor of
    indices), when the model takes it; else no keyword and the caller slices the logits itself."""
    return {"logits_to_keep": count} if "logits_to_keep" in forward_keywords(model) else {}


def attention_implementation(model: torch.nn.Module) -> str | None:
    """The attention implementation the model runs (``eager``, ``sdpa``...), None when it does not say."""
    return getattr(getattr(base_module(model), "config", None), "_attn_implementation", None)


@contextmanager
def attention_used(model: torch.nn.Module, name: str | None) -> Iterator[str | None]:
    """The model runs attention implementation ``name`` inside (None: its own), restored after, even on error;
    yields the implementation in use (the model's own when it cannot switch to ``name``)."""
    current = attention_implementation(model)
    base = base_module(model)
    if name is None or current is None or current == name or not hasattr(base, "set_attn_implementation"):
        yield current
        return
    try:
        base.set_attn_implementation(name)
    except (ValueError, ImportError, NotImplementedError):  # the model does not support it: keep its own
        yield current
        return
    try:
        yield name
    finally:
        base.set_attn_implementation(current)


def run_forward(
    loaded,
    input_ids: torch.Tensor | None = None,
    *,
    cache=None,
    keep=None,
    hidden_states: bool = False,
    attentions: bool = False,
    attention: str | None = None,
    gradients: bool = False,
    model: torch.nn.Module | None = None,
    **inputs,
):
    """The one place an engine module runs the model: under its lock, in inference mode (unless
    ``gradients``), with ``cache`` (a transformers Cache, extended in place; None: no cache), the logits of
    the last ``keep`` positions (or of the positions in a tensor of indices; None: every position, and a
    model without ``logits_to_keep`` returns every position, for the caller to slice), hidden states and
    attention weights when asked, and attention implementation ``attention`` (None: the model's own).
    ``inputs`` are further forward keywords (``inputs_embeds``, ``attention_mask``, ``position_ids``);
    ``model`` a module standing in for ``loaded.model`` (an attribution's wrapper of it)."""
    model = loaded.model if model is None else model
    keywords = dict(inputs, use_cache=cache is not None)
    if input_ids is not None:
        keywords["input_ids"] = input_ids
    if cache is not None:
        keywords["past_key_values"] = cache
    if hidden_states:
        keywords["output_hidden_states"] = True
    if attentions:
        keywords["output_attentions"] = True
    if keep is not None:
        keywords |= logits_to_keep(model, keep)
    with loaded.lock, attention_used(model, attention), nullcontext() if gradients else torch.inference_mode():
        return model(**keywords)


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
    This is one stream alone; `model_zoo.step_scheduler` serves many at once with the same interface.
    ``around`` (optional) wraps each forward, inside the lock: hooks it installs are in place for this
    stream's forward alone and gone before another stream's.
    """

    def __init__(self, loaded, attention: bool = True, around: AroundForward | None = None) -> None:
        from transformers import DynamicCache

        self.loaded = loaded
        self.attention = attention
        self.around = around
        self.cache = DynamicCache(config=loaded.model.config)

    def step(self, ids: Sequence[int]) -> Step:
        loaded = self.loaded
        inputs = torch.tensor([list(ids)], dtype=torch.long, device=loaded.device)
        started = time.perf_counter()
        with torch.inference_mode():
            with loaded.lock, self.around(self.cache.get_seq_length()) if self.around else nullcontext():
                out = run_forward(loaded, inputs, cache=self.cache, keep=1, attentions=self.attention)
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
