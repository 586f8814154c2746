"""Commitment over a whole trace: at which layer each moment's token is decided.

One teacher-forced pass over the prompt and the generated tokens, with hidden states; each layer's state at
every position that predicts a moment goes through the family's final norm, the unembedding and the logit
post-processing (the logit lens of ``logit_lens.py``, for all moments at once), and the moment's token gets
its rank there. The last column is the final residual through that map, the model's own output, so it
matches each moment's recorded rank.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from tracing.core.trace import Trace
from tracing.inspection.interventions.results import Commitment
from tracing.inspection.logit_lens import lens_logits, residual_states

Progress = Callable[[float, str], None]
Translate = Callable[[int, torch.Tensor], torch.Tensor]  # (row of the lens, states [positions, hidden]) -> states


def deciding_layers(ranks: np.ndarray) -> np.ndarray:
    """int64 ``[moments]``: the first column from which the rank stays 1 to the last column, or -1 when the
    last column's rank is not 1."""
    top = ranks == 1
    decided = np.full(len(ranks), -1, dtype=np.int64)
    for row, flags in enumerate(top):
        if flags[-1]:
            below = np.flatnonzero(~flags)
            decided[row] = 0 if len(below) == 0 else int(below[-1]) + 1
    return decided


def commitment(
    loaded, trace: Trace, progress: Progress | None = None, translate_row: Translate | None = None
) -> Commitment:
    """The logit-lens rank and probability of every moment's token at every layer of ``trace``; with
    ``translate_row`` (a tuned lens's ``(row, states) -> states``), each layer's states are translated first."""
    if not trace.moments:
        raise ValueError("This trace has no moments.")
    loaded.identity.check_made(trace.identity, "read")
    started = time.perf_counter()
    count = len(trace.moments)
    ids = torch.tensor([trace.all_ids[:-1]], dtype=torch.long, device=loaded.device)
    targets = torch.tensor(trace.generated_ids, device=loaded.device)
    rows = slice(trace.prompt_len - 1, trace.prompt_len - 1 + count)
    with torch.inference_mode():
        states, _ = residual_states(loaded, ids, rows, keep=1)  # [layers + 1, moments, hidden]
        ranks, probs = [], []
        for index, state in enumerate(states):
            if progress is not None:
                progress(index / len(states), f"Layer {index} of {len(states) - 1}…")
            if translate_row is not None:
                state = translate_row(index, state)
            log_probs = torch.log_softmax(lens_logits(loaded, state).float(), dim=-1)
            chosen = log_probs.gather(1, targets[:, None])
            ranks.append(((log_probs > chosen).sum(dim=-1) + 1).cpu())
            probs.append(chosen[:, 0].exp().cpu())
    rank_table = torch.stack(ranks, dim=1).numpy().astype(np.int64)
    return Commitment(
        layer_names=["embeddings"] + [f"layer {i}" for i in range(1, len(states))],
        token_ids=np.asarray(trace.generated_ids, dtype=np.int64),
        ranks=rank_table,
        probs=torch.stack(probs, dim=1).numpy().astype(np.float32),
        deciding_layer=deciding_layers(rank_table),
        seconds=time.perf_counter() - started,
    )
