"""Where a decoder keeps what interventions reach: its layers, each layer's attention and MLP, the input of the
attention's output projection (every head's output side by side), the final norm and the embeddings.

Described once per architecture family, so contributions, ablation, knockout and patching never guess at module
names. A Llama-style layer adds ``o_proj(heads)`` and ``mlp(...)`` straight onto the residual stream and the
model ends in an RMSNorm; that is what makes the per-head decomposition exact. Architectures that put another
norm after the attention (Gemma) or use LayerNorm (GPT-2) have no layout here, so their interventions say
so instead of giving wrong numbers. Torch-free: the page asks `has_known_layout` of a trace's architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

# model_type values (transformers configs) whose layers are Llama-style: pre-norm, RMSNorm, residual = x +
# o_proj(heads) then + mlp(...), one final RMSNorm. A new family is one more entry.
LLAMA_STYLE = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def has_known_layout(architecture: str | None) -> bool:
    """Whether a ``config.model_type`` has an attention layout here."""
    return architecture in LLAMA_STYLE


@dataclass(frozen=True)
class AttentionLayout:
    """The modules of one loaded decoder that interventions hook, and the shapes of its heads.

    ``num_heads`` query heads each write ``head_dim`` values into the output projection's input
    (``[..., num_heads * head_dim]``, head h at ``head_slice(h)``); ``num_kv_heads`` key/value heads serve
    them in groups (grouped-query attention when fewer).
    """

    architecture: str
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    layers_path: str = "model.layers"
    attention_name: str = "self_attn"
    output_projection_name: str = "o_proj"
    mlp_name: str = "mlp"
    final_norm_path: str = "model.norm"

    def head_slice(self, head: int) -> slice:
        return slice(head * self.head_dim, (head + 1) * self.head_dim)

    def layers(self, model):
        """The decoder layers of ``model`` (the transformers model, under peft its base model)."""
        return _walk(model, self.layers_path)

    def attention(self, model, layer: int):
        return getattr(self.layers(model)[layer], self.attention_name)

    def output_projection(self, model, layer: int):
        """The linear map whose input is every head's output of ``layer``, ``[..., num_heads * head_dim]``."""
        return getattr(self.attention(model, layer), self.output_projection_name)

    def mlp(self, model, layer: int):
        return getattr(self.layers(model)[layer], self.mlp_name)

    def final_norm(self, model):
        return _walk(model, self.final_norm_path)

    def check_layer(self, layer: int) -> int:
        if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < self.num_layers:
            raise ValueError(f"layer {layer!r} is not a layer of this model (0 to {self.num_layers - 1}).")
        return layer

    def check_head(self, head: int) -> int:
        if not isinstance(head, int) or isinstance(head, bool) or not 0 <= head < self.num_heads:
            raise ValueError(f"head {head!r} is not a head of this model (0 to {self.num_heads - 1}).")
        return head


def _walk(module, path: str):
    for part in path.split("."):
        module = getattr(module, part)
    return module


def attention_layout(model) -> AttentionLayout | None:
    """The layout of a transformers decoder (the base model under peft), or None when its family is unknown."""
    config = getattr(model, "config", None)
    architecture = getattr(config, "model_type", None)
    if not has_known_layout(architecture):
        return None
    heads = int(config.num_attention_heads)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return AttentionLayout(
        architecture=architecture,
        num_layers=int(config.num_hidden_layers),
        num_heads=heads,
        num_kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
        head_dim=int(head_dim),
        hidden_size=int(config.hidden_size),
    )


def missing_layout_reason(architecture: str | None) -> str:
    """One sentence for a page or a CLI: why a model has no interventions."""
    known = ", ".join(sorted(LLAMA_STYLE))
    named = f"'{architecture}'" if architecture else "this model's architecture"
    return (
        f"{named} has no known attention layout here (interventions need a Llama-style decoder: {known}), so "
        "its heads cannot be decomposed, ablated or patched."
    )
