"""Input x Gradient on the input embeddings, by Captum's LayerGradientXActivation on the embedding layer.

A token's score is the dot product of its embedding with the gradient of the target score there: a
first-order estimate of its contribution, one forward and one backward pass per target.
"""

from __future__ import annotations

from captum.attr import LayerGradientXActivation

from tracing.inspection.attribution.gradients import repeated_ids, run_grouped
from tracing.inspection.attribution.registry import AttributionMethod, MethodOutput, register
from tracing.inspection.attribution.scoring import TargetScorer
from tracing.inspection.attribution.targets import Targets


@register
class InputXGradient(AttributionMethod):
    name = "input_x_gradient"
    label = "Input x Gradient"
    description = "Embedding times the gradient of the target score, summed per token (Captum)."

    def run(self, model, targets: Targets) -> MethodOutput:
        return run_grouped(model, targets, self._group)

    @staticmethod
    def _group(scorer: TargetScorer, group: Targets):
        attributions = LayerGradientXActivation(scorer.from_ids, scorer.embed).attribute(repeated_ids(scorer))
        return attributions.sum(-1), None
