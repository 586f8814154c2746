"""Direct contributions at a moment: how much the embeddings, every attention head and every MLP wrote into the
chosen token's logit (or into ``logit(chosen) - logit(B)``).

In a Llama-style decoder the final residual at the moment's position is a plain sum: the token's embedding
plus, per layer, the attention's output (``o_proj`` of the heads side by side, so one term per head through
its slice of the projection, plus the projection's bias) and the MLP's output. The final RMSNorm divides the
residual by its RMS and scales it per dimension; freezing the division at the actual RMS of the full residual
makes norm and unembedding one linear map, so each part's contribution is that map applied to it and the
parts add up exactly to the model's logit.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from tracing.core.tokens import readable_token
from tracing.core.trace import Trace
from tracing.inspection.interventions.moment import MomentRead, layout_of, moment_prefix, read_moment
from tracing.inspection.interventions.results import Contributions


def head_outputs(loaded, read: MomentRead) -> tuple[torch.Tensor, torch.Tensor]:
    """Each head's write into the residual at the moment's position, ``[layers, heads, hidden]``, and each
    output projection's bias, ``[layers, hidden]``: the projection applied to one head's slice at a time
    (minus its bias), so an adapter's LoRA on ``o_proj`` is part of it."""
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


def _frozen_norm(loaded, read: MomentRead) -> tuple[torch.Tensor, float]:
    """The final norm as a per-dimension scale ``[hidden]`` times the frozen 1/RMS of the actual residual;
    ValueError when the model's final norm is not such an RMSNorm (then the parts would not add up)."""
    norm = layout_of(loaded).final_norm(loaded.base_model)
    eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", None))
    weight = getattr(norm, "weight", None)
    if eps is None or weight is None:
        raise ValueError(f"{loaded.id}'s final norm is not an RMSNorm, so its contributions do not add up.")
    x = read.final_residual.double()
    scale = float(torch.rsqrt(x.pow(2).mean() + eps))
    with torch.inference_mode(), loaded.lock:
        actual = norm(read.final_residual.to(loaded.dtype)[None])[0].double()
    if not torch.allclose(actual, weight.double() * x * scale, rtol=1e-3, atol=1e-4):
        raise ValueError(f"{loaded.id}'s final norm is not a plain RMSNorm, so its contributions do not add up.")
    return weight.detach().double(), scale


def contributions_at(loaded, prefix, target_id: int, contrast_id: int | None = None) -> dict:
    """The core over ids: every part's contribution to the logit of ``target_id`` after ``prefix`` (minus that
    of ``contrast_id``), with the model's own number, as a dict of `Contributions` fields."""
    vocab = int(loaded.model.config.vocab_size)
    for name, token in (("target", target_id), ("contrast", contrast_id)):
        if token is not None and not 0 <= int(token) < vocab:
            raise ValueError(f"{name} token id {token} is outside the vocabulary (0 to {vocab - 1}).")
    if contrast_id is not None and int(contrast_id) == int(target_id):
        raise ValueError("The runner-up must be another token than the one explained.")
    read = read_moment(loaded, prefix)
    heads, biases = head_outputs(loaded, read)
    weight, scale = _frozen_norm(loaded, read)
    unembedding = loaded.base_model.get_output_embeddings()
    rows = unembedding.weight.detach().double()
    direction = rows[target_id] - (rows[contrast_id] if contrast_id is not None else 0)
    direction = direction * weight * scale  # norm (frozen) then unembedding: one linear map
    bias = getattr(unembedding, "bias", None)
    output_bias = 0.0
    if bias is not None:
        output_bias = float(bias[target_id] - (bias[contrast_id] if contrast_id is not None else 0))
    logit = read.logits[target_id] - (read.logits[contrast_id] if contrast_id is not None else 0)
    return {
        "embeddings": float(read.embedding.double() @ direction),
        "heads": (heads.double() @ direction).cpu().numpy().astype(np.float32),
        "attention_bias": (biases.double() @ direction).cpu().numpy().astype(np.float32),
        "mlps": (read.mlp_outputs.double() @ direction).cpu().numpy().astype(np.float32),
        "output_bias": output_bias,
        "logit": float(logit),
        "norm_scale": scale,
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
