"""Saliency: how sensitive the target score is to each token, the L2 norm of the gradient at its embedding.

Captum's Saliency gives the gradient's absolute value per embedding element; a token's score is the L2 norm
over its embedding dimensions (always >= 0: saliency says how much, not which way).
"""

from __future__ import annotations

import torch
from captum.attr import Saliency as CaptumSaliency

from tracing.inspection.attribution.gradients import run_grouped
from tracing.inspection.attribution.registry import AttributionMethod, MethodOutput, register
from tracing.inspection.attribution.scoring import TargetScorer
from tracing.inspection.attribution.targets import Targets


@register
class Saliency(AttributionMethod):
    name = "saliency"
    label = "Saliency"
    description = "L2 norm of the gradient of the target score at each token's embedding (Captum)."

    def run(self, model, targets: Targets) -> MethodOutput:
        return run_grouped(model, targets, self._group)

    @staticmethod
    def _group(scorer: TargetScorer, group: Targets):
        with torch.no_grad():
            embeddings = scorer.embed(scorer.ids).unsqueeze(0)
        inputs = embeddings.expand(scorer.n_targets, -1, -1).contiguous().requires_grad_(True)
        gradients = CaptumSaliency(scorer.from_embeddings).attribute(inputs, abs=True)
        return torch.linalg.vector_norm(gradients, dim=-1), None
