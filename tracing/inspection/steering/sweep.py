"""A strength sweep: the greedy continuation of one moment under each of several strengths of one steering,
decoded together, the strengths as the rows of one batch (one forward per step for all of them).

Every row reads the same prefix, so no padding is needed; each row's hook adds its own strength. Strength 0
is always a row: the unsteered path the others are compared with. `SteeringSweep` loads without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from tracing.core.tokens import readable_tokens
from tracing.core.trace import Trace
from tracing.experiments.branch import check_branch_point
from tracing.inspection.steering.apply import Steering, steered, steering_start

MAX_ROWS = 64


@dataclass
class SteeringSweep:
    """Rows = strengths (ascending, 0 among them), columns = moments ``first_moment`` on."""

    label: str
    first_moment: int
    strengths: list[float]  # [rows]
    token_ids: np.ndarray  # int64 [rows, steps]: the greedy choice
    tokens: list[list[str]]  # [rows][steps]
    probs: np.ndarray  # float32 [rows, steps]: its probability under the steered model

    @property
    def baseline(self) -> int:
        return self.strengths.index(0.0)

    @property
    def changed(self) -> np.ndarray:
        """bool ``[rows, steps]``: where a row's token differs from the unsteered row's."""
        return self.token_ids != self.token_ids[self.baseline]

    def first_departures(self) -> list[int | None]:
        """Per row, the first moment whose token differs from the unsteered path's (None: never)."""
        found = []
        for row in self.changed:
            hits = np.flatnonzero(row)
            found.append(int(self.first_moment + hits[0]) if hits.size else None)
        return found


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
    inputs = torch.tensor([prefix] * rows, dtype=torch.long, device=loaded.device)
    cache = DynamicCache(config=loaded.model.config)
    chosen, probs = [], []
    with torch.inference_mode():
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
