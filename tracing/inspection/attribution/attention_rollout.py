"""Attention rollout (Abnar & Zuidema, 2020): how much of the predicting position's representation flows from
each earlier token through the attention layers. No gradients and one forward pass for all moments: the
cheapest method, and a different question (information flow, not effect on the score), so it ignores a
contrast token.

Per layer the heads' attention is averaged, the residual stream added (``0.5 * A + 0.5 * I``), rows
renormalised, and the layers multiplied from the first up. A target at position P reads row P - 1 (with
``prompt_only``, its prompt columns, not renormalised). Memory
grows with layers * heads * length^2 (the attention weights of one forward pass).
"""

from __future__ import annotations

import numpy as np
import torch

from model_zoo.seam import attention_implementation, input_device
from tracing.inspection.attribution.gradients import target_scores
from tracing.inspection.attribution.registry import AttributionMethod, MethodOutput, register
from tracing.inspection.attribution.targets import Targets


@register
class AttentionRollout(AttributionMethod):
    name = "attention_rollout"
    label = "Attention rollout"
    description = "Attention flow from each token to the predicting position, heads averaged, residual added."
    needs_gradients = False
    needs_attention_weights = True

    def check(self, loaded) -> None:
        super().check(loaded)
        implementation = attention_implementation(loaded.model) or "eager"
        if implementation != "eager":
            raise ValueError(
                f"{self.label} needs attention weights, and this model runs '{implementation}' attention, which "
                "does not return them. Load the model with eager attention (attn_implementation='eager')."
            )

    def run(self, model, targets: Targets) -> MethodOutput:
        length = int(targets.positions.max())
        ids = targets.ids[:length].to(input_device(model.module)).unsqueeze(0)
        with torch.no_grad():
            out = model.forward(ids, attentions=True, keep=1)
            attentions = out.attentions
            if not attentions or any(a is None for a in attentions):
                raise ValueError(f"{self.label} needs attention weights, and this model returned none.")
            identity = torch.eye(length, device=ids.device)
            rollout = identity
            for layer in attentions:
                mixed = 0.5 * layer[0].float().mean(0) + 0.5 * identity
                rollout = (mixed / mixed.sum(-1, keepdim=True)) @ rollout
        rows = torch.as_tensor(targets.positions - 1, device=ids.device)
        scores = rollout[rows].cpu().numpy().astype(np.float32)
        return MethodOutput(scores, target_scores(model, targets))
