"""A loaded encoder's family description bound to its config: the modules the encoder analyses hook, the
shapes of its heads, its LayerNorms frozen at a given input and its classification head as one function.

`encoder_layout_of` reads ``config.model_type`` and the entry of `model_zoo.encoder_families`; a model
outside it has no layout, and `encoder_layout_problem` says which part is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model_zoo.encoder_families import EncoderFamily, encoder_family_of, missing_encoder_reason
from model_zoo.layout import FrozenNorm, ModelLayout

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


def _walk(module, path: str):
    for part in path.split("."):
        module = getattr(module, part)
    return module


@dataclass(frozen=True)
class EncoderLayout:
    """The modules of one loaded encoder (the transformers model, under peft its base) and its head shapes."""

    family: EncoderFamily
    num_layers: int
    num_heads: int
    head_dim: int
    hidden_size: int

    @property
    def architecture(self) -> str:
        return self.family.model_type

    def head_slice(self, head: int) -> slice:
        return slice(head * self.head_dim, (head + 1) * self.head_dim)

    def layers(self, model):
        return _walk(_walk(model, self.family.base), self.family.layers)

    def _in_layer(self, model, layer: int, path: str):
        return _walk(self.layers(model)[layer], path)

    def attention(self, model, layer: int):
        return self._in_layer(model, layer, self.family.attention)

    def output_projection(self, model, layer: int):
        """The dense whose input is every head's output of ``layer``, ``[..., num_heads * head_dim]``."""
        return self._in_layer(model, layer, self.family.output_projection)

    def attention_norm(self, model, layer: int):
        return self._in_layer(model, layer, self.family.attention_norm)

    def mlp_output(self, model, layer: int):
        return self._in_layer(model, layer, self.family.mlp_output)

    def mlp_norm(self, model, layer: int):
        return self._in_layer(model, layer, self.family.mlp_norm)

    def classify(self, model, hidden: torch.Tensor) -> torch.Tensor:
        """The classification head over final hidden states ``[batch, tokens, hidden]`` -> ``[batch, labels]``
        (only the first token is read; dropout is off in eval mode)."""
        out = hidden
        for step in self.family.head:
            if step == "first":
                out = out[:, 0]
            elif step in ACTIVATIONS:
                out = ACTIVATIONS[step](out)
            else:
                out = _walk(model, step)(out)
        return out

    def freeze(self, norm, x: torch.Tensor) -> FrozenNorm:
        """A LayerNorm frozen at its actual input ``x`` ``[hidden]``: centring, then ``gain / deviation``."""
        x = x.double()
        gain = norm.weight.detach().double()
        deviation = (x - x.mean()).pow(2).mean()
        bias = torch.zeros_like(gain) if norm.bias is None else norm.bias.detach().double()
        return FrozenNorm(gain, float(torch.rsqrt(deviation + norm.eps)), True, bias)

    # the same checks as a decoder's layout: they read num_layers and num_heads only
    check_layer = ModelLayout.check_layer
    check_head = ModelLayout.check_head


def encoder_layout_problem(model) -> str | None:
    """Why ``model`` has no encoder layout, or None when it has one."""
    architecture = getattr(getattr(model, "config", None), "model_type", None)
    family = encoder_family_of(architecture)
    if family is None:
        return missing_encoder_reason(architecture)
    try:
        _walk(_walk(model, family.base), family.layers)
    except AttributeError:
        return f"'{architecture}' is a known encoder family, but this model has no '{family.base}.{family.layers}'."
    return None


def encoder_layout_of(model) -> EncoderLayout | None:
    """The layout of a transformers encoder (the base model under peft), or None (see `encoder_layout_problem`)."""
    if encoder_layout_problem(model) is not None:
        return None
    config = model.config
    hidden = int(getattr(config, "hidden_size", None) or config.dim)
    heads = int(getattr(config, "num_attention_heads", None) or config.n_heads)
    layers = int(getattr(config, "num_hidden_layers", None) or config.n_layers)
    return EncoderLayout(encoder_family_of(config.model_type), layers, heads, hidden // heads, hidden)
