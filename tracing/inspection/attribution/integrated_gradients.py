"""Integrated Gradients on the input embeddings, by Captum's LayerIntegratedGradients on the embedding layer.

The path runs from the baseline sequence (every attributed position holds the baseline token) to the input,
in the embedding space; a token's score is the sum over embedding dimensions of its attribution, and
``delta = sum(scores) - (f(input) - f(baseline))`` is Captum's convergence delta (completeness gap).
In prefix mode one baseline serves every target: positions at or after a target cannot move its score.
"""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients

from tracing.inspection.attribution.gradients import repeated_ids, run_grouped
from tracing.inspection.attribution.registry import AttributionMethod, MethodOutput, register
from tracing.inspection.attribution.scoring import TargetScorer, steps_per_batch
from tracing.inspection.attribution.targets import Targets


@register
class IntegratedGradients(AttributionMethod):
    name = "integrated_gradients"
    label = "Integrated Gradients"
    description = "Path integral of gradients from a baseline token to the input embeddings (Captum)."
    has_delta = True

    def run(self, model, targets: Targets) -> MethodOutput:
        settings = targets.settings
        # Each group also runs one forward of two rows: the ends of the path, for the delta.
        return run_grouped(model, targets, self._group, fixed_passes=2 / settings.n_steps)

    @staticmethod
    def _group(scorer: TargetScorer, group: Targets):
        settings = group.settings
        baseline_ids = group.baseline_ids(scorer.length).to(scorer.device)
        steps = steps_per_batch(settings.max_batch_tokens, scorer.length, scorer.n_targets)
        with torch.no_grad():
            # The path in the embedding space, as LayerIntegratedGradients on the embedding layer takes it; its
            # ends are the embeddings themselves, so no model pass is needed to find them.
            inputs = scorer.embed(repeated_ids(scorer))
            baselines = scorer.embed(baseline_ids).expand_as(inputs).contiguous()
        attributions = CaptumIntegratedGradients(scorer.from_embeddings).attribute(
            inputs,
            baselines=baselines,
            n_steps=settings.n_steps,
            method=settings.integration,
            internal_batch_size=min(steps, settings.n_steps) * scorer.n_targets,
        )
        scores = attributions.sum(-1)
        # Captum's convergence delta, sum(attributions) - (f(input) - f(baseline)), from one pass over both ends.
        ends = scorer.score_ids(torch.stack([scorer.ids, baseline_ids]))
        return scores, attributions.sum((1, 2)) - (ends[0] - ends[1])
