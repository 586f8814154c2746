"""Attention for packed rows: each example attends causally within itself, at the cost of its own length.

A packed row holds a batch's examples end to end, with ``position_ids`` restarting at 0 for each. Plain SDPA
sees one long row: transformers builds a block-diagonal ``[T, T]`` mask for it, and on the CPU a masked SDPA
computes the whole square, so attention costs ``T²`` (``(sum of lengths)²``) where the examples alone need
``sum(length²)``. With eight examples that is several times the attention work, more than the padding it
saves. This implementation runs SDPA once per example instead, causal, no mask (the fused kernel): no padding
and no work across examples. It is the varlen attention of flash-attention, done with what every device has.

Anything that is not one packed row (a batch of several rows, a step with a cache, a single example) goes to
transformers' own SDPA unchanged, with the mask SDPA expects, so evaluation and generation behave as usual.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

from model_zoo.seam import attention_implementation

NAME = "momentscope_packed_sdpa"


def segment_starts(position_ids: torch.Tensor | None, length: int) -> list[int] | None:
    """Where each packed example starts (and the row's end), or None when the row is not a packed row."""
    if position_ids is None or position_ids.shape[0] != 1 or position_ids.shape[1] != length:
        return None
    if int(position_ids[0, 0]) != 0:
        return None
    starts = (position_ids[0] == 0).nonzero().flatten().tolist()
    if len(starts) < 2:
        return None
    return starts + [length]


def packed_sdpa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query ``[1, heads, T, dim]``; returns ``[1, T, heads, dim]``."""
    same_length = query.shape[2] == key.shape[2]
    starts = segment_starts(position_ids, query.shape[2]) if same_length else None
    if starts is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, position_ids=position_ids, **kwargs)
    kwargs.pop("is_causal", None)
    pieces = [
        sdpa_attention_forward(
            module, query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], None, is_causal=True, **kwargs
        )[0]
        for a, b in zip(starts[:-1], starts[1:], strict=True)
    ]
    return torch.cat(pieces, dim=1), None


AttentionInterface.register(NAME, packed_sdpa_forward)
# The mask SDPA gets; a packed row's block mask is built but not used (building it is cheap, using it is not).
AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def use_packed_attention(model: torch.nn.Module) -> bool:
    """Switches a transformers model to packed-row attention; False when it cannot switch (it keeps its own)."""
    if not hasattr(model, "set_attn_implementation"):
        return False
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, NotImplementedError):
        return False
    return attention_implementation(model) == NAME
