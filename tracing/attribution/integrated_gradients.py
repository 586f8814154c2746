"""Integrated Gradients on the input embeddings, by Captum's LayerIntegratedGradients on the embedding layer.

The path runs from the baseline sequence (every attributed position holds the baseline token) to the input,
in the embedding space; a token's score is the sum over embedding dimensions of its attribution, and
``delta = sum(scores) - (f(input) - f(baseline))`` is Captum's convergence delta (completeness gap).
In prefix mode one baseline serves every target: positions at or after a target cannot move its score.
"""

from __future__ import annotations

from captum.attr import LayerIntegratedGradients

from tracing.attribution.gradients import repeated_ids, run_grouped
from tracing.attribution.registry import AttributionMethod, MethodOutput, register
from tracing.attribution.scoring import TargetScorer, steps_per_batch
from tracing.attribution.targets import Targets


@register
class IntegratedGradients(AttributionMethod):
    name = "integrated_gradients"
    label = "Integrated Gradients"
    description = "Path integral of gradients from a baseline token to the input embeddings (Captum)."
    has_delta = True

    def run(self, model, targets: Targets) -> MethodOutput:
        settings = targets.settings
        # Each group also runs four one-row forwards (input, baseline, and the two ends for the delta).
        return run_grouped(model, targets, self._group, fixed_passes=4 / settings.n_steps)

    @staticmethod
    def _group(scorer: TargetScorer, group: Targets):
        settings = group.settings
        inputs = repeated_ids(scorer)
        baselines = group.baseline_ids(scorer.length).to(scorer.device).expand_as(inputs).contiguous()
        steps = steps_per_batch(settings.max_batch_tokens, scorer.length, scorer.n_targets)
        lig = LayerIntegratedGradients(scorer.from_ids, scorer.embed)
        attributions, delta = lig.attribute(
            inputs,
            baselines=baselines,
            n_steps=settings.n_steps,
            method=settings.integration,
            internal_batch_size=min(steps, settings.n_steps) * scorer.n_targets,
            return_convergence_delta=True,
        )
        return attributions.sum(-1), delta
