"""Each head's and each layer's direct contribution to a classifier's logit (or logit difference).

The classifier reads the first token's final vector. In a post-LayerNorm encoder that vector is built as:
the layer's input plus the attention's output (one term per head through its slice of the output dense, plus
the dense's bias) through a LayerNorm, then plus the MLP's output through another LayerNorm. Each LayerNorm
frozen at its actual scale (centring and ``gain / deviation`` of its actual input) is linear, so the final
vector is a sum of parts: the embeddings, every head, every attention bias, every MLP, and the LayerNorms'
biases. The head (pooler, tanh, dense) is not linear: it is taken along the straight path from the zero
vector to the final one, whose average gradient (composite Gauss-Legendre quadrature) applied to each part makes the
parts add up to ``f(final) - f(0)``; ``f(0)`` is reported on its own.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import numpy as np
import torch

from model_zoo.encoder_layout import EncoderLayout, encoder_layout_of, encoder_layout_problem
from tracing.encoders.decision import check_classifier, check_targets, encode, label_names
from tracing.encoders.results import EncoderContributions

PATH_PIECES, PIECE_POINTS = 256, 4  # composite Gauss-Legendre: a ReLU head (DistilBERT) bends along the path


def layout_of(loaded) -> EncoderLayout:
    layout = encoder_layout_of(loaded.base_model)
    if layout is None:
        raise ValueError(encoder_layout_problem(loaded.base_model))
    return layout


def _capture(module, store: list, *, output: bool = False):
    """A hook keeping the first token's vector of a module's first input (or output), batch row 0."""
    if output:
        return module.register_forward_hook(lambda mod, args, out: store.append(out[0, 0].detach()))
    return module.register_forward_pre_hook(lambda mod, args: store.append(args[0][0, 0].detach()))


def _read(loaded, layout: EncoderLayout, keywords: dict) -> tuple[dict, object]:
    """One forward with the first token's head inputs, norm inputs and MLP outputs recorded per layer."""
    model = loaded.base_model
    reads = {name: [] for name in ("heads", "attention_norm", "mlp", "mlp_norm")}
    with loaded.lock, ExitStack() as stack:
        for layer in range(layout.num_layers):
            hooks = (
                _capture(layout.output_projection(model, layer), reads["heads"]),
                _capture(layout.attention_norm(model, layer), reads["attention_norm"]),
                _capture(layout.mlp_output(model, layer), reads["mlp"], output=True),
                _capture(layout.mlp_norm(model, layer), reads["mlp_norm"]),
            )
            for hook in hooks:
                stack.callback(hook.remove)
        out = loaded.forward(hidden_states=True, **keywords)
    return reads, out


def _head_writes(loaded, layout: EncoderLayout, layer: int, z: torch.Tensor) -> torch.Tensor:
    """``[heads + 1, hidden]``: each head's write through its slice of the output dense, then the bias."""
    rows = torch.zeros(layout.num_heads + 1, z.shape[-1], dtype=z.dtype, device=z.device)
    for head in range(layout.num_heads):
        rows[head, layout.head_slice(head)] = z[layout.head_slice(head)]
    with torch.inference_mode():
        out = layout.output_projection(loaded.base_model, layer)(rows).double()
    return torch.cat([out[:-1] - out[-1], out[-1:]]).clone()


def _parts(loaded, layout: EncoderLayout, reads: dict, first: torch.Tensor) -> torch.Tensor:
    """``[parts, hidden]`` float64 adding up to the first token's final vector: embeddings, per layer its heads,
    attention bias and MLP, and (last row) the LayerNorms' biases."""
    model = loaded.base_model
    parts = torch.stack([first.double(), torch.zeros_like(first, dtype=torch.float64)]).clone()
    for layer in range(layout.num_layers):
        heads = _head_writes(loaded, layout, layer, reads["heads"][layer])
        parts = torch.cat([parts[:-1], heads, parts[-1:]])
        frozen = layout.freeze(layout.attention_norm(model, layer), reads["attention_norm"][layer])
        parts = frozen.apply(parts).clone()
        parts[-1] += frozen.bias
        parts = torch.cat([parts[:-1], reads["mlp"][layer].double()[None], parts[-1:]])
        frozen = layout.freeze(layout.mlp_norm(model, layer), reads["mlp_norm"][layer])
        parts = frozen.apply(parts).clone()
        parts[-1] += frozen.bias
    return parts


def _path_gradient(loaded, layout: EncoderLayout, final: torch.Tensor, score) -> tuple[torch.Tensor, float]:
    """The average gradient of ``score(head(v))`` along ``v = t * final``, t in [0, 1], and the score at 0."""
    nodes, weights = np.polynomial.legendre.leggauss(PIECE_POINTS)
    starts = np.arange(PATH_PIECES)[:, None] / PATH_PIECES
    nodes = (starts + (nodes[None] + 1) / (2 * PATH_PIECES)).ravel()
    weights = np.tile(weights / (2 * PATH_PIECES), PATH_PIECES)
    t = torch.tensor(nodes, dtype=torch.float32, device=final.device)
    points = (t[:, None] * final.float().clone()[None]).requires_grad_(True)
    with loaded.lock, torch.enable_grad():
        values = score(layout.classify(loaded.base_model, points[:, None, :]))
        (gradients,) = torch.autograd.grad(values.sum(), points)
        at_zero = float(score(layout.classify(loaded.base_model, torch.zeros_like(points[:1, None, :])))[0].detach())
    average = (torch.tensor(weights, dtype=torch.float64, device=final.device)[:, None] * gradients.double()).sum(0)
    return average, at_zero


def decision_contributions(
    loaded, text: str, label: int, *, pair: str | None = None, contrast: int | None = None
) -> EncoderContributions:
    """Every head's, attention bias's and MLP's direct contribution to ``logit(label)`` (minus
    ``logit(contrast)``), with the model's own number."""
    check_classifier(loaded)
    layout = layout_of(loaded)
    check_targets(len(label_names(loaded)), label, contrast)
    started = time.perf_counter()
    reads, out = _read(loaded, layout, encode(loaded, text, pair).keywords)
    parts = _parts(loaded, layout, reads, out.hidden_states[0][0, 0])

    def score(logits: torch.Tensor) -> torch.Tensor:
        return logits[:, label] - (logits[:, contrast] if contrast is not None else 0)

    average, at_zero = _path_gradient(loaded, layout, out.hidden_states[-1][0, 0], score)
    values = (parts @ average).float().cpu().numpy()
    per_layer = values[1:-1].reshape(layout.num_layers, layout.num_heads + 2)
    return EncoderContributions(
        label=int(label),
        contrast=None if contrast is None else int(contrast),
        embeddings=float(values[0]),
        heads=per_layer[:, : layout.num_heads].copy(),
        attention_bias=per_layer[:, layout.num_heads].copy(),
        mlps=per_layer[:, layout.num_heads + 1].copy(),
        norm_bias=float(values[-1]),
        head_at_zero=at_zero,
        logit=float(score(out.logits.float())[0]),
        note=layout.family.decomposition_note,
        seconds=time.perf_counter() - started,
    )
