"""A strength sweep: the greedy continuation of one moment under each of several strengths of one steering,
decoded together, the strengths as the rows of one batch (one forward per step for all of them).

Every row reads the same prefix, so no padding is needed: the positions before the first steered one are read
once and their cache copied to every row; each row's hook adds its own strength. Strength 0
is always a row: the unsteered path the others are compared with (`results.SteeringSweep`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from tracing.core.tokens import readable_tokens
from tracing.core.trace import Trace
from tracing.experiments.branch import check_branch_point
from tracing.inspection.steering.apply import Steering, steered, steering_start
from tracing.inspection.steering.results import SteeringSweep

MAX_ROWS = 64


def sweep_strengths(strengths: Sequence[float]) -> list[float]:
    values = sorted({float(s) for s in strengths} | {0.0})
    if len(values) > MAX_ROWS:
        raise ValueError(f"A sweep runs at most {MAX_ROWS} strengths at once, got {len(values)}.")
    return values


def steering_sweep(
    loaded, trace: Trace, moment_index: int, steering: Steering, strengths: Sequence[float], steps: int
) -> SteeringSweep:
    """The greedy continuation at ``moment_index`` of ``trace`` for ``steps`` moments under ``steering`` at
    each strength of ``strengths`` (0 added), all strengths in one batch."""
    from transformers import DynamicCache

    check_branch_point(loaded, trace, moment_index)
    steering.check(loaded)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps!r}.")
    values = sweep_strengths(strengths)
    prefix = trace.all_ids[: trace.prompt_len + moment_index]
    start = steering_start(steering, len(prefix))
    rows = len(values)
    cache = DynamicCache(config=loaded.model.config)
    shared = prefix[:start]  # read before the first steered position: the same for every row, read once
    chosen, probs = [], []
    with torch.inference_mode():
        if shared:
            loaded.forward(torch.tensor([shared], dtype=torch.long, device=loaded.device), cache=cache, keep=1)
            cache.batch_repeat_interleave(rows)
        inputs = torch.tensor([prefix[len(shared) :]] * rows, dtype=torch.long, device=loaded.device)
        for _ in range(steps):
            first = cache.get_seq_length()
            with steered(loaded, steering, first, start, values):
                logits = loaded.forward(inputs, cache=cache, keep=1).logits[:, -1].float()
            log_probs = logits.log_softmax(-1)
            ids = log_probs.argmax(-1)
            chosen.append(ids.cpu())
            probs.append(log_probs.gather(-1, ids[:, None])[:, 0].exp().cpu())
            inputs = ids[:, None]
    token_ids = torch.stack(chosen, 1).numpy().astype(np.int64)
    return SteeringSweep(
        label=replace(steering, strength=1.0).label.replace(" × 1 ", " × strength "),
        first_moment=moment_index,
        strengths=values,
        token_ids=token_ids,
        tokens=[readable_tokens(loaded.tokenizer, row) for row in token_ids],
        probs=torch.stack(probs, 1).numpy().astype(np.float32),
    )
