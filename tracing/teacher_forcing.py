"""Moments for tokens the model did not choose itself: a whole sequence read in one teacher-forced pass,
or one forced token described under the model's own distribution.

Compare uses it to read one model's tokens with another model; branching uses it for the forced token.
A forced moment's numbers mean what a decoded moment's mean (temperature-1 softmax, real rank of the
token, eligibility under the trace's settings), so the same panels draw both.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import numpy as np
import torch

from tracing.sampling import filtered_logits
from tracing.tokens import readable_token, readable_tokens
from tracing.trace import DecodingSettings, Moment


def model_identity(loaded) -> tuple[str, str | None]:
    """(model id, adapter id) as a Trace records them: an adapter entry is its base plus the adapter."""
    entry = loaded.entry
    if entry.source == "adapter":
        return entry.base, entry.id
    return entry.id, None


def describe_token(
    tokenizer,
    logits: torch.Tensor,
    *,
    index: int,
    token_id: int,
    settings: DecodingSettings,
    attention: np.ndarray | None,
    seconds: float,
) -> Moment:
    """The moment of ``token_id`` under one position's logits ``[vocab]``, whoever chose the token.

    The rank is the token's real rank (1 + how many tokens are strictly more likely); eligibility is what
    the settings would have left choosable (under greedy decoding: only the arg-max).
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    top = torch.topk(log_probs, min(settings.record_top_k, log_probs.shape[-1]))
    chosen = log_probs[token_id]
    if settings.do_sample:
        eligible = torch.isfinite(filtered_logits(logits, settings))
        eligible_count = int(eligible.sum())
        mask = eligible[top.indices]
    else:
        eligible_count = 1
        mask = top.indices == torch.argmax(logits)
    entropy = -(log_probs.exp() * log_probs).nan_to_num(nan=0.0).sum()
    top_ids = top.indices.cpu().numpy().astype(np.int64)
    return Moment(
        index=index,
        token_id=int(token_id),
        token=readable_token(tokenizer, token_id),
        prob=float(chosen.double().exp()),
        rank=int((log_probs > chosen).sum()) + 1,
        entropy=float(entropy),
        top_ids=top_ids,
        top_probs=top.values.exp().cpu().numpy().astype(np.float32),
        top_tokens=readable_tokens(tokenizer, top_ids),
        eligible_count=eligible_count,
        eligible_mask=mask.cpu().numpy(),
        attention=attention,
        seconds=seconds,
    )


@dataclass
class ForcedPass:
    """One forward pass over ``prompt + generated``: row i belongs to moment i (the position before it)."""

    logits: torch.Tensor  # float32 [moments, vocab], on the CPU
    attention: list[np.ndarray] | None  # per moment float16 [layers, heads, prompt_len + i]; None: no weights
    seconds: float


def logits_to_keep(model, count: int) -> dict:
    """The keyword that limits the logits to the last ``count`` positions, when the model takes it."""
    get_base = getattr(model, "get_base_model", None)  # a peft wrapper passes keywords on to its base
    parameters = inspect.signature((get_base() if callable(get_base) else model).forward).parameters
    return {"logits_to_keep": count} if "logits_to_keep" in parameters else {}


def forced_pass(loaded, ids: list[int], prompt_len: int, attention: bool = True) -> ForcedPass:
    """Teacher-forces ``ids`` (prompt then generated tokens) through ``loaded`` in one forward pass.

    Keeps the logits of the positions that predict each generated token and, with ``attention``, each such
    position's attention row (the full squares are dropped as soon as the rows are cut out).
    """
    count = len(ids) - prompt_len
    if prompt_len < 1 or count < 1:
        raise ValueError("A teacher-forced pass needs a prompt and at least one generated token.")
    inputs = torch.tensor([ids], dtype=torch.long, device=loaded.device)
    started = time.perf_counter()
    with torch.inference_mode(), loaded.lock:
        out = loaded.model(
            input_ids=inputs,
            use_cache=False,
            output_attentions=attention,
            **logits_to_keep(loaded.model, count + 1),
        )
    logits = out.logits[0, -(count + 1) : -1].float().cpu()
    rows = None
    if attention and out.attentions and all(a is not None for a in out.attentions):
        stacked = torch.stack([a[0] for a in out.attentions])  # [layers, heads, n, n]
        rows = [
            stacked[:, :, q, : q + 1].to(device="cpu", dtype=torch.float16).numpy()
            for q in range(prompt_len - 1, prompt_len - 1 + count)
        ]
    return ForcedPass(logits, rows, time.perf_counter() - started)
