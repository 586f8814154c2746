"""Direct contributions at a moment: how much the embeddings, every attention head and every MLP wrote into the
chosen token's logit (or into ``logit(chosen) - logit(B)``).

The final residual at the moment's position is a plain sum: the first layer's input (the embeddings, scaled
and with positions added as the family does) plus, per layer, the attention's output (the output projection
of the heads side by side, so one term per head through its slice of the projection, plus the projection's
bias) and the MLP's output, each times the family's residual multiplier (Granite), in sequence or in
parallel alike. Where a norm sits between a block and the residual (Gemma 2/3, OLMo 2) it is frozen at its
actual scale, which makes it linear and the parts still add up. The final norm (RMSNorm, or LayerNorm whose
centring is linear too) divides the residual by its actual RMS or deviation; frozen there, norm, unembedding
and the logit divisor are one linear map, so each part's contribution is that map applied to it and the
parts add up exactly to the model's logit (before a soft cap, which `ModelLayout.postprocess` applies).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from model_zoo.layout import weights_at_hand
from tracing.core.tokens import readable_token
from tracing.core.trace import Trace
from tracing.inspection.interventions.moment import MomentRead, layout_of, moment_prefix, read_moment
from tracing.inspection.interventions.results import Contributions


def head_outputs(loaded, read: MomentRead) -> tuple[torch.Tensor, torch.Tensor]:
    """Each head's write into the residual at the moment's position, ``[layers, heads, hidden]``, and each
    output projection's bias, ``[layers, hidden]``: the projection applied to one head's slice at a time
    (minus its bias), so an adapter's LoRA on the projection is part of it."""
    layout = layout_of(loaded)
    model = loaded.base_model
    heads, biases = [], []
    with torch.inference_mode(), loaded.lock:
        for layer in range(layout.num_layers):
            projection = layout.output_projection(model, layer)
            z = read.head_inputs[layer]
            rows = torch.zeros(layout.num_heads + 1, z.shape[-1], dtype=loaded.dtype, device=z.device)
            for head in range(layout.num_heads):
                columns = layout.head_slice(head)
                rows[head, columns] = z[columns].to(loaded.dtype)
            out = projection(rows).float()  # the last row (all zeros) is the bias alone
            heads.append(out[:-1] - out[-1])
            biases.append(out[-1])
    return torch.stack(heads), torch.stack(biases)


def _through_out_norms(loaded, read: MomentRead, heads, biases) -> tuple:
    """Heads, attention biases and MLP outputs as the residual stream receives them: through each layer's
    post-norm frozen at its actual input (Gemma 2/3, OLMo 2; a norm's bias joins the attention bias), times
    the family's residual multiplier (Granite)."""
    layout = layout_of(loaded)
    mlps = read.mlp_outputs.double()
    heads, biases = heads.double(), biases.double()
    if layout.family.post_norms:
        heads, biases, mlps = heads.clone(), biases.clone(), mlps.clone()
        for layer in range(layout.num_layers):
            after_attention, after_mlp = layout.out_norms(loaded.base_model, layer)
            if after_attention is not None:
                frozen = layout.freeze(after_attention, read.out_norm_inputs["attention"][layer])
                heads[layer] = frozen.apply(heads[layer])
                biases[layer] = frozen.apply(biases[layer]) + frozen.bias
            if after_mlp is not None:
                frozen = layout.freeze(after_mlp, read.out_norm_inputs["mlp"][layer])
                mlps[layer] = frozen.apply(mlps[layer]) + frozen.bias
    scale = layout.residual_multiplier
    return heads * scale, biases * scale, mlps * scale


def contributions_at(loaded, prefix, target_id: int, contrast_id: int | None = None) -> dict:
    """The core over ids: every part's contribution to the logit of ``target_id`` after ``prefix`` (minus that
    of ``contrast_id``), with the model's own number, as a dict of `Contributions` fields. With soft-capped
    logits (Gemma 2/3) the parts add up to the logit before the cap (``logit``)."""
    vocab = int(loaded.model.config.vocab_size)
    for name, token in (("target", target_id), ("contrast", contrast_id)):
        if token is not None and not 0 <= int(token) < vocab:
            raise ValueError(f"{name} token id {token} is outside the vocabulary (0 to {vocab - 1}).")
    if contrast_id is not None and int(contrast_id) == int(target_id):
        raise ValueError("The runner-up must be another token than the one explained.")
    layout = layout_of(loaded)
    read = read_moment(loaded, prefix)
    heads, biases, mlps = _through_out_norms(loaded, read, *head_outputs(loaded, read))
    final = layout.freeze(layout.final_norm(loaded.base_model), read.final_residual)
    unembedding = loaded.base_model.get_output_embeddings()
    with weights_at_hand(unembedding):
        rows = unembedding.weight.detach()
        vector = (rows[target_id] - (rows[contrast_id] if contrast_id is not None else 0)).double()
        head_bias, bias = getattr(unembedding, "bias", None), 0.0
        if head_bias is not None:
            head_bias = head_bias.detach()
            bias = float(head_bias[target_id] - (head_bias[contrast_id] if contrast_id is not None else 0))
    vector = vector.to(final.gain.device) / layout.logits_divisor
    direction = final.direction(vector)  # norm (frozen), unembedding and the logit divisor: one linear map
    output_bias = float(final.bias @ vector) + bias  # a LayerNorm's bias through the unembedding, the head's
    raw = read.head_logits / layout.logits_divisor
    logit = raw[target_id] - (raw[contrast_id] if contrast_id is not None else 0)
    return {
        "embeddings": float(read.embedding.double() @ direction),
        "heads": (heads @ direction).cpu().numpy().astype(np.float32),
        "attention_bias": (biases @ direction).cpu().numpy().astype(np.float32),
        "mlps": (mlps @ direction).cpu().numpy().astype(np.float32),
        "output_bias": output_bias,
        "logit": float(logit),
        "norm_scale": final.scale,
    }


def contributions(loaded, trace: Trace, moment_index: int, contrast_id: int | None = None) -> Contributions:
    """The contributions to moment ``moment_index``'s chosen token (against ``contrast_id`` when given).
    Raises ValueError for a bad moment or token, another model's trace, or a model with no known layout."""
    started = time.perf_counter()
    prefix = moment_prefix(loaded, trace, moment_index, "decompose")
    target = trace.moments[moment_index].token_id
    parts = contributions_at(loaded, prefix, target, contrast_id)
    return Contributions(
        moment_index=moment_index,
        target_id=target,
        target_token=readable_token(loaded.tokenizer, target),
        contrast_id=None if contrast_id is None else int(contrast_id),
        contrast_token=None if contrast_id is None else readable_token(loaded.tokenizer, int(contrast_id)),
        seconds=time.perf_counter() - started,
        **parts,
    )
