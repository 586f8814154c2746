"""Making steering vectors on a loaded model: the difference of the mean activations of two lists of prompts
at one layer's output ("contrastive activation addition"), or a token's row of the output embedding.

Activations are read by a forward hook on the layer the family description names (`model_zoo.layout`),
during one forward of the seam per prompt; they are the residual stream after that layer, which is what a
steering hook on the same layer adds to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tracing.core.decode import render_prompt
from tracing.inspection.steering.vector import SteeringVector, check_name

REDUCTIONS = ("last", "mean")  # the prompt's last token, or the mean over all its tokens


def steering_layout(loaded):
    """The loaded model's family description, or ValueError naming what is unknown about it."""
    layout = loaded.layout
    if layout is None:
        raise ValueError(loaded.layout_problem)
    return layout


def layer_output(output) -> torch.Tensor:
    """A decoder layer's residual stream ``[batch, positions, hidden]`` (a tensor, or the first of a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def layer_activations(loaded, prompt: str, layer: int, use_chat_template: bool = False) -> torch.Tensor:
    """The residual stream after ``layer`` at every position of ``prompt``, float64 ``[positions, hidden]``."""
    layout = steering_layout(loaded)
    layout.check_layer(layer)
    _, ids = render_prompt(loaded, prompt, use_chat_template)
    seen: list[torch.Tensor] = []
    module = layout.layers(loaded.base_model)[layer]
    with loaded.lock:
        handle = module.register_forward_hook(lambda _m, _a, out: seen.append(layer_output(out)[0].double()))
        try:
            loaded.forward(torch.tensor([ids], device=loaded.device), keep=1)
        finally:
            handle.remove()
    return seen[-1].cpu()


def _mean_activation(loaded, prompts: Sequence[str], layer: int, reduce: str, chat: bool, side: str) -> torch.Tensor:
    prompts = [p for p in prompts if isinstance(p, str) and p.strip()]
    if not prompts:
        raise ValueError(f"The {side} prompts are empty: give at least one prompt on each side.")
    rows = [layer_activations(loaded, p, layer, chat) for p in prompts]
    return torch.stack([r[-1] if reduce == "last" else r.mean(0) for r in rows]).mean(0)


def contrast_vector(
    loaded,
    name: str,
    positive: Sequence[str],
    negative: Sequence[str],
    layer: int,
    reduce: str = "last",
    use_chat_template: bool = False,
) -> SteeringVector:
    """mean(activation of ``positive``) - mean(activation of ``negative``) at the output of ``layer``, each
    prompt read at its last token (``reduce="last"``) or averaged over its tokens (``"mean"``)."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}.")
    check_name(name)
    plus = _mean_activation(loaded, positive, layer, reduce, use_chat_template, "positive")
    minus = _mean_activation(loaded, negative, layer, reduce, use_chat_template, "negative")
    source = {"kind": "contrast", "positive": list(positive), "negative": list(negative), "reduce": reduce,
              "chat_template": use_chat_template}  # fmt: skip
    return SteeringVector(name, (plus - minus).float().numpy(), layer, loaded.identity.base, source)


def token_vector(loaded, name: str, text: str, layer: int) -> SteeringVector:
    """The output embedding's row of the single token ``text`` (a leading space counts): adding it pushes the
    residual stream towards that token's logit."""
    from tracing.experiments.branch import token_ids_for

    check_name(name)
    steering_layout(loaded).check_layer(layer)
    (token_id,) = token_ids_for(loaded.tokenizer, text, single=True)
    head = loaded.base_model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{loaded.id} has no output embedding, so a token gives no direction.")
    row = head.weight[token_id].detach().float().cpu().numpy()
    source = {"kind": "token", "text": text, "token_id": int(token_id)}
    return SteeringVector(name, np.ascontiguousarray(row), layer, loaded.identity.base, source)
