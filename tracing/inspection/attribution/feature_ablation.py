"""Feature Ablation per token, by Captum's FeatureAblation: a token's score is how much the target score drops
when that token alone is replaced by the baseline token (``settings.baseline_id``; unk by default).

Every ablated copy of the sequence is one row of a batched forward pass, and each pass scores all targets
at once (a causal mask keeps later positions out of earlier targets), so all moments cost
``(tokens + 1)`` sequence passes in batches bounded by ``max_batch_tokens``.
"""

from __future__ import annotations

import torch
from captum.attr import FeatureAblation as CaptumFeatureAblation

from tracing.inspection.attribution.gradients import target_scores
from tracing.inspection.attribution.registry import AttributionMethod, MethodOutput, register
from tracing.inspection.attribution.scoring import TargetScorer, steps_per_batch
from tracing.inspection.attribution.targets import Targets


@register
class FeatureAblation(AttributionMethod):
    name = "feature_ablation"
    label = "Feature Ablation"
    description = "Drop of the target score when one token is replaced by the baseline token (Captum)."
    needs_gradients = False

    def run(self, model, targets: Targets) -> MethodOutput:
        scorer = TargetScorer(model, targets)
        columns = torch.nonzero(targets.attributed(scorer.length)).squeeze(1).to(scorer.device)
        originals = scorer.ids[columns]
        baseline = targets.settings.baseline_id

        def forward(present: torch.Tensor) -> torch.Tensor:
            """Rows of presence flags over the attributed positions (1 = the token, 0 = the baseline)."""
            rows = scorer.ids.unsqueeze(0).repeat(present.shape[0], 1)
            rows[:, columns] = torch.where(present.bool(), originals, baseline)
            return scorer.score_ids(rows)

        scores = torch.zeros((len(targets), scorer.length))
        if len(columns):
            ablation = CaptumFeatureAblation(forward).attribute(
                torch.ones((1, len(columns)), dtype=torch.long, device=scorer.device),
                baselines=0,
                perturbations_per_eval=steps_per_batch(
                    targets.settings.max_batch_tokens, scorer.length, scorer.n_targets
                ),
            )
            scores[:, columns.cpu()] = ablation.reshape(len(targets), len(columns)).float().cpu()
        return MethodOutput(scores.numpy(), target_scores(model, targets))
