"""Derived views of one moment that a trace does not store: head summaries and full attention squares.

A trace keeps only the new position's attention row per moment (``[layers, heads, keys]``). The summaries
below are cheap numpy over that row; the full ``[layers, heads, n, n]`` squares that bertviz draws need one
forward pass over the prefix, done here on request (the page caches the result).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracing.core.trace import Trace


@dataclass(frozen=True)
class HeadSummary:
    """One number per (layer, head) for a moment, ``values`` of shape ``[layers, heads]``."""

    name: str
    label: str  # what the number means, for a colour bar
    values: np.ndarray
    vmax: float


def prefix_tokens(trace: Trace, moment_index: int) -> list[str]:
    """Readable tokens the model read when it chose moment ``moment_index``'s token: the prompt and the
    tokens generated before it (``prompt_len + moment_index`` keys)."""
    return trace.all_tokens[: trace.prompt_len + moment_index]


def _share_on_generated(row: np.ndarray, prompt_len: int) -> np.ndarray:
    return row[..., prompt_len:].sum(axis=-1)


def _share_on_first(row: np.ndarray, prompt_len: int) -> np.ndarray:
    return row[..., 0]


def _entropy_bits(row: np.ndarray, prompt_len: int) -> np.ndarray:
    p = np.clip(row, 1e-12, 1.0)
    return -(row * np.log2(p)).sum(axis=-1)


# name -> (label, function of ([layers, heads, keys] float32, prompt_len) -> [layers, heads])
SUMMARIES: dict[str, tuple[str, Callable[[np.ndarray, int], np.ndarray]]] = {
    "generated": ("share of attention on the generated text", _share_on_generated),
    "first": ("share of attention on the first token (an 'attention sink')", _share_on_first),
    "entropy": ("entropy of the head's attention, bits (high = spread out)", _entropy_bits),
}


def head_summary(attention: np.ndarray, prompt_len: int, name: str) -> HeadSummary:
    """Summarises a moment's attention row ``[layers, heads, keys]`` per head by the named statistic."""
    label, fn = SUMMARIES[name]
    row = np.asarray(attention, dtype=np.float32)
    values = fn(row, prompt_len)
    vmax = float(np.log2(row.shape[-1])) if name == "entropy" else 1.0
    return HeadSummary(name, label, values.astype(np.float32), max(vmax, 1e-6))


def prefix_attention(loaded, trace: Trace, moment_index: int) -> np.ndarray:
    """Full attention squares ``[layers, heads, n, n]`` (float32) over the prefix of moment ``moment_index``
    (``n = prompt_len + moment_index``), from one forward pass with ``output_attentions``.

    The last query row equals the moment's stored attention row (up to float16 rounding).
    """
    if not 0 <= moment_index < len(trace.moments):
        raise IndexError(f"moment {moment_index} is not in this trace of {len(trace.moments)} moments.")
    loaded.identity.check_made(trace.identity, "draw")
    import torch  # here, so the summaries and their types load without torch

    ids = trace.all_ids[: trace.prompt_len + moment_index]
    inputs = torch.tensor([ids], dtype=torch.long, device=loaded.device)
    out = loaded.forward(inputs, attentions=True, attention="eager")
    if not out.attentions or any(a is None for a in out.attentions):
        raise ValueError(f"{loaded.id} returns no attention weights.")
    return torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
