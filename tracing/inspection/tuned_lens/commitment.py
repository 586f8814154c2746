"""Commitment read through a tuned lens: at which layer each moment's token is decided when every layer's state
is first translated by the model's lens (the logit-lens version is
`tracing.inspection.interventions.commitment_map.commitment`, whose result type and deciding rule it shares)."""

from __future__ import annotations

import time

import numpy as np
import torch

from tracing.core.trace import Trace
from tracing.inspection.interventions.commitment_map import Progress, deciding_layers
from tracing.inspection.interventions.results import Commitment
from tracing.inspection.logit_lens import lens_logits, residual_states
from tracing.inspection.tuned_lens.lens import TunedLens


def tuned_commitment(loaded, trace: Trace, lens: TunedLens, progress: Progress | None = None) -> Commitment:
    """The tuned-lens rank and probability of every moment's token at every layer of ``trace``."""
    if not trace.moments:
        raise ValueError("This trace has no moments.")
    loaded.identity.check_made(trace.identity, "read")
    started = time.perf_counter()
    ids = torch.tensor([trace.all_ids[:-1]], dtype=torch.long, device=loaded.device)
    targets = torch.tensor(trace.generated_ids, device=loaded.device)[:, None]
    rows = slice(trace.prompt_len - 1, trace.prompt_len - 1 + len(trace.moments))
    ranks, probs = [], []
    with torch.inference_mode():
        states, _ = residual_states(loaded, ids, rows, keep=1)  # [layers + 1, moments, hidden]
        for index, state in enumerate(states):
            if progress is not None:
                progress(index / len(states), f"Layer {index} of {len(states) - 1}…")
            log_probs = lens_logits(loaded, lens.translate_row(index, state)).float().log_softmax(-1)
            chosen = log_probs.gather(1, targets)
            ranks.append(((log_probs > chosen).sum(-1) + 1).cpu())
            probs.append(chosen[:, 0].exp().cpu())
    table = torch.stack(ranks, 1).numpy().astype(np.int64)
    return Commitment(
        layer_names=["embeddings"] + [f"layer {i}" for i in range(1, len(states))],
        token_ids=np.asarray(trace.generated_ids, dtype=np.int64),
        ranks=table,
        probs=torch.stack(probs, 1).numpy().astype(np.float32),
        deciding_layer=deciding_layers(table),
        seconds=time.perf_counter() - started,
    )
