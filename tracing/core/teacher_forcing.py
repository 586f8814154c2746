"""A whole sequence read in one teacher-forced pass: the logits and attention rows of every position that
predicts a generated token. Compare uses it to read one model's tokens with another model (each row is then
described by `tracing.core.distribution`, so a forced moment's numbers mean what a decoded moment's mean).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from model_zoo.seam import attention_rows, run_forward


@dataclass
class ForcedPass:
    """One forward pass over ``prompt + generated``: row i belongs to moment i (the position before it)."""

    logits: torch.Tensor  # float32 [moments, vocab], on the CPU
    attention: list[np.ndarray] | None  # per moment float16 [layers, heads, prompt_len + i]; None: no weights
    seconds: float


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
    out = run_forward(loaded, inputs, attentions=attention, attention="eager" if attention else None, keep=count + 1)
    logits = out.logits[0, -(count + 1) : -1].float().cpu()
    cut = (
        [attention_rows(out.attentions, q) for q in range(prompt_len - 1, prompt_len - 1 + count)] if attention else []
    )
    rows = [row.numpy() for row in cut] if cut and cut[0] is not None else None
    return ForcedPass(logits, rows, time.perf_counter() - started)
