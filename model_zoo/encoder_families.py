"""One description per encoder family (a transformers ``model_type``): where a sequence classifier keeps its
embeddings, layers, attention, the attention's output dense and the LayerNorm after it, the MLP's output and
the LayerNorm after that, and the steps of its classification head.

Encoders here are post-LayerNorm (BERT's order): each block's output is added to its input and the sum is
normalised, so a decomposition freezes every LayerNorm at its actual scale. The encoder analyses in
`tracing.encoders` read these entries through `EncoderLayout`; none spells a module path. Adding a family is
one entry here and one row of the tiny-model suite (``tests/unit/tracing/encoders``). Module paths are those of
transformers 5. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncoderFamily:
    """Where one encoder family keeps what the encoder analyses reach.

    ``base`` is the attribute of a ``*ForSequenceClassification`` (or ``*ForMaskedLM``) model holding the bare
    encoder; ``embeddings`` and ``layers`` are read from it, the per-layer paths from one layer. The output
    dense's input is every head's output side by side (``[..., heads * head_dim]``, head h at columns
    ``h * head_dim`` on). ``head`` is the classifier as steps over the final hidden states ``[batch, tokens,
    hidden]``: module paths from the classification model, ``first`` (the first token's vector), or an
    activation (``relu``, ``tanh``).
    """

    model_type: str
    base: str
    embeddings: str = "embeddings"
    layers: str = "encoder.layer"
    attention: str = "attention.self"
    qkv: str = "query, key, value"
    output_projection: str = "attention.output.dense"
    attention_norm: str = "attention.output.LayerNorm"
    mlp_output: str = "output.dense"  # the module whose output is what the MLP adds
    mlp_norm: str = "output.LayerNorm"
    head: tuple[str, ...] = ("classifier",)
    positions: str = "learned (embeddings.position_embeddings)"

    @property
    def decomposition_note(self) -> str:
        """The one sentence a page says about the decomposition of a post-LayerNorm encoder."""
        return (
            f"{self.model_type} normalises after every block (post-LayerNorm), so each LayerNorm is frozen at its "
            "actual scale (a linear map, under which the parts still add up), and the classification head is "
            "taken along the straight path from zero to the final vector (integrated gradients of the head)."
        )


_ROBERTA = dict(base="roberta")

ENCODER_FAMILIES: dict[str, EncoderFamily] = {
    family.model_type: family
    for family in (
        EncoderFamily(model_type="bert", base="bert", head=("bert.pooler", "classifier")),
        EncoderFamily(model_type="roberta", **_ROBERTA),
        EncoderFamily(model_type="xlm-roberta", **_ROBERTA),
        EncoderFamily(model_type="electra", base="electra"),
        EncoderFamily(
            model_type="deberta-v2",
            base="deberta",
            qkv="query_proj, key_proj, value_proj",
            head=("pooler", "classifier"),
            positions="relative (disentangled attention)",
        ),
        EncoderFamily(
            model_type="distilbert",
            base="distilbert",
            layers="transformer.layer",
            attention="attention",
            qkv="q_lin, k_lin, v_lin",
            output_projection="attention.out_lin",
            attention_norm="sa_layer_norm",
            mlp_output="ffn.lin2",
            mlp_norm="output_layer_norm",
            head=("first", "pre_classifier", "relu", "classifier"),
        ),
    )
}


def encoder_family_of(architecture: str | None) -> EncoderFamily | None:
    return ENCODER_FAMILIES.get(architecture) if architecture else None


def missing_encoder_reason(architecture: str | None) -> str:
    """One sentence for a page or a CLI: why an encoder's heads cannot be decomposed or ablated."""
    named = f"'{architecture}'" if architecture else "this model's architecture"
    known = ", ".join(sorted(ENCODER_FAMILIES))
    return (
        f"{named} has no encoder family description here (where its layers, heads, LayerNorms and classifier "
        f"head live; known: {known}), so its heads cannot be decomposed or ablated."
    )
