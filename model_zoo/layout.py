"""A loaded decoder's family description bound to its config: the modules interventions hook, the shapes of
its heads, its multipliers, its norms frozen at a given input and its logit post-processing.

`layout_of_model` reads the transformers ``config.model_type`` and the entry of `model_zoo.families`; a model
outside the registry (or a variant an entry does not describe) has no layout, and `layout_problem` says which
part is unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from model_zoo.families import Family, family_of, missing_layout_reason


@dataclass(frozen=True)
class FrozenNorm:
    """A norm with its scale fixed at one actual input: ``map(p) = gain * scale * (p - centre(p))`` is linear,
    so the maps of parts add up to the map of their sum; the norm's output is ``map(x) + bias``."""

    gain: torch.Tensor  # float64 [hidden]
    scale: float  # 1 / RMS (or 1 / standard deviation) of the actual input
    centred: bool  # LayerNorm subtracts the mean
    bias: torch.Tensor  # float64 [hidden] (zeros for an RMSNorm)

    def apply(self, parts: torch.Tensor) -> torch.Tensor:
        """The frozen map over ``[..., hidden]`` (float64)."""
        parts = parts.double()
        if self.centred:
            parts = parts - parts.mean(-1, keepdim=True)
        return parts * (self.gain * self.scale)

    def direction(self, vector: torch.Tensor) -> torch.Tensor:
        """``d`` with ``apply(p) @ vector == p @ d`` for every ``p`` (the map's transpose applied to ``vector``)."""
        d = vector.double() * self.gain * self.scale
        return d - d.mean() if self.centred else d


@dataclass(frozen=True)
class ModelLayout:
    """The modules of one loaded decoder that interventions hook, and the shapes of its heads.

    ``num_heads`` query heads each write ``head_dim`` values into the output projection's input
    (``[..., num_heads * head_dim]``, head h at ``head_slice(h)``); ``num_kv_heads`` key/value heads serve
    them in groups (grouped-query attention when fewer).
    """

    family: Family
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    residual_multiplier: float = 1.0
    logits_divisor: float = 1.0
    logit_softcap: float | None = None
    parallel: bool = False

    @property
    def architecture(self) -> str:
        return self.family.model_type

    @property
    def decomposition_note(self) -> str | None:
        """What a page says about this model's decomposition where it is exact only with a norm frozen or
        before a soft cap; None where nothing needs saying."""
        notes = []
        if self.family.post_norms:
            notes.append(
                f"{self.architecture} puts a norm between each block and the residual stream; the decomposition "
                "freezes it at its actual scale, as it does the final norm, so the parts still add up."
            )
        if self.logit_softcap:
            notes.append(
                f"Its logits are soft-capped ({self.logit_softcap:g} · tanh(logit / {self.logit_softcap:g})); "
                "the parts add up to the logit before the cap."
            )
        return " ".join(notes) or None

    def head_slice(self, head: int) -> slice:
        return slice(head * self.head_dim, (head + 1) * self.head_dim)

    def layers(self, model):
        """The decoder layers of ``model`` (the transformers model, under peft its base model)."""
        return _walk(model, self.family.layers)

    def attention(self, model, layer: int):
        return _walk(self.layers(model)[layer], self.family.attention)

    def output_projection(self, model, layer: int):
        """The map whose input is every head's output of ``layer``, ``[..., num_heads * head_dim]``."""
        return _walk(self.attention(model, layer), self.family.output_projection)

    def projection_columns(self, weight: torch.Tensor) -> torch.Tensor:
        """The output projection's weight as ``[out, in]`` (GPT-2's Conv1D keeps it ``[in, out]``)."""
        return weight.T if self.family.projection == "conv1d" else weight

    def mlp(self, model, layer: int):
        return _walk(self.layers(model)[layer], self.family.mlp)

    def out_norms(self, model, layer: int) -> tuple:
        """The norms between the attention's and the MLP's output and the residual stream (None where absent)."""
        module = self.layers(model)[layer]
        names = (self.family.attention_out_norm, self.family.mlp_out_norm)
        return tuple(None if name is None else _walk(module, name) for name in names)

    def final_norm(self, model):
        return _walk(model, self.family.final_norm)

    def freeze(self, norm, x: torch.Tensor) -> FrozenNorm:
        """``norm`` (a norm of this family) frozen at its actual input ``x`` ``[hidden]``; ValueError when the
        module does not compute the family's norm (then parts would not add up)."""
        x = x.double()
        eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", None))
        with weights_at_hand(norm):
            weight, bias = getattr(norm, "weight", None), getattr(norm, "bias", None)
            if eps is None or weight is None:
                raise ValueError(f"{type(norm).__name__} is not a {self.family.norm} norm with a weight.")
            gain = weight.detach().double().to(x.device) + (1.0 if self.family.norm == "rms_plus_one" else 0.0)
            bias = torch.zeros_like(gain) if bias is None else bias.detach().double().to(x.device)
            dtype = weight.dtype
        centred = self.family.norm == "layer"
        spread = (x - x.mean()).pow(2).mean() if centred else x.pow(2).mean()
        frozen = FrozenNorm(gain, float(torch.rsqrt(spread + eps)), centred, bias)
        with torch.inference_mode():
            actual = norm(x.to(dtype)[None])[0].double().to(x.device)
        expected = frozen.apply(x) + bias
        rtol = max(1e-3, 4 * torch.finfo(dtype).eps)  # the norm ran in the model's dtype (bfloat16: 3e-2)
        if not torch.allclose(actual, expected, rtol=rtol, atol=rtol * 0.1 * max(1.0, float(expected.abs().max()))):
            raise ValueError(f"{type(norm).__name__} does not compute a plain {self.family.norm} norm here.")
        return frozen

    def postprocess(self, logits: torch.Tensor) -> torch.Tensor:
        """The LM head's output as the model returns it: divided (Granite), then soft-capped (Gemma 2/3)."""
        logits = logits / self.logits_divisor if self.logits_divisor != 1.0 else logits
        if self.logit_softcap:
            logits = torch.tanh(logits / self.logit_softcap) * self.logit_softcap
        return logits

    def check_layer(self, layer: int) -> int:
        if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < self.num_layers:
            raise ValueError(f"layer {layer!r} is not a layer of this model (0 to {self.num_layers - 1}).")
        return layer

    def check_head(self, head: int) -> int:
        if not isinstance(head, int) or isinstance(head, bool) or not 0 <= head < self.num_heads:
            raise ValueError(f"head {head!r} is not a head of this model (0 to {self.num_heads - 1}).")
        return head


def weights_at_hand(module):
    """A context in which ``module``'s own parameters are real tensors on its execution device, also when
    accelerate offloaded them (``device_map`` with CPU or disk offload keeps them on the meta device)."""
    from accelerate.utils import align_module_device

    return align_module_device(module)


def _walk(module, path: str):
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _number(config, name: str | None, default):
    value = getattr(config, name, None) if name else None
    return default if value is None else value


def layout_problem(model) -> str | None:
    """Why ``model`` (the transformers model, under peft its base) has no layout, or None when it has one."""
    config = getattr(model, "config", None)
    architecture = getattr(config, "model_type", None)
    family = family_of(architecture)
    if family is None:
        return missing_layout_reason(architecture)
    if architecture == "opt" and not getattr(config, "do_layer_norm_before", True):
        return missing_layout_reason(architecture, "this OPT normalises after each block (do_layer_norm_before=False)")
    if architecture == "opt" and getattr(config, "word_embed_proj_dim", config.hidden_size) != config.hidden_size:
        return missing_layout_reason(architecture, "this OPT projects its embeddings in and out (word_embed_proj_dim)")
    for path in (family.layers, family.final_norm):
        try:
            _walk(model, path)
        except AttributeError:
            return missing_layout_reason(architecture, f"it has no module at '{path}'")
    return None


def layout_of_model(model) -> ModelLayout | None:
    """The layout of a transformers decoder (the base model under peft), or None (see `layout_problem`)."""
    if layout_problem(model) is not None:
        return None
    config = model.config
    family = family_of(config.model_type)
    heads = int(config.num_attention_heads)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    cap = _number(config, family.logit_softcap, None)
    return ModelLayout(
        family=family,
        num_layers=int(config.num_hidden_layers),
        num_heads=heads,
        num_kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
        head_dim=int(head_dim),
        hidden_size=int(config.hidden_size),
        residual_multiplier=float(_number(config, family.residual_multiplier, 1.0)),
        logits_divisor=float(_number(config, family.logits_divisor, 1.0)),
        logit_softcap=None if cap is None or math.isclose(cap, 0.0) else float(cap),
        parallel=bool(_number(config, family.parallel_flag, family.parallel)),
    )
