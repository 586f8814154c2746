"""The common frame of the gradient methods: targets grouped by length, one Captum call per group."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tracing.inspection.attribution.registry import MethodOutput
from tracing.inspection.attribution.scoring import TargetScorer, plan_groups
from tracing.inspection.attribution.targets import Targets

GroupRun = Callable[[TargetScorer, Targets], tuple[torch.Tensor, torch.Tensor | None]]


def target_scores(model, targets: Targets) -> np.ndarray:
    """float32 ``[targets]``: each target's score at the real input, from one forward pass."""
    scorer = TargetScorer(model, targets)
    return scorer.score_ids(scorer.ids.unsqueeze(0))[0].cpu().numpy().astype(np.float32)


def run_grouped(model, targets: Targets, run_group: GroupRun, fixed_passes: float = 0.0) -> MethodOutput:
    """Calls ``run_group(scorer, group)`` for each group of targets; it returns scores ``[n, length]``, deltas."""
    length = int(targets.positions.max())
    scores = np.zeros((len(targets), length), dtype=np.float32)
    deltas = np.zeros(len(targets), dtype=np.float32)
    has_delta = False
    for rows in plan_groups(targets.positions, fixed_passes):
        group = targets.subset(rows)
        group_scores, group_deltas = run_group(TargetScorer(model, group), group)
        scores[rows, : group_scores.shape[1]] = group_scores.detach().float().cpu().numpy()
        if group_deltas is not None:
            has_delta = True
            deltas[rows] = group_deltas.detach().float().cpu().numpy()
    return MethodOutput(scores, target_scores(model, targets), deltas if has_delta else None)


def repeated_ids(scorer: TargetScorer) -> torch.Tensor:
    """int64 ``[targets, length]``: one identical row of the input per target (see scoring.py)."""
    return scorer.ids.unsqueeze(0).expand(scorer.n_targets, -1).contiguous()
