"""One description per decoder family (a transformers ``model_type``): where its embeddings, layers, attention,
output projection, MLP and norms live, how its logits are post-processed, and whether attention and MLP run
in sequence or side by side.

Every intervention and lens (contributions, ablation, knockout, patching, commitment, logit lens) reads these
entries through `model_zoo.layout.ModelLayout`; none spells a module path. Adding a family is one entry here
and one tiny config in the suite that proves it (`SUITE`); `python -m model_zoo families` prints the coverage.
Module paths are those of transformers 5 (``models/<family>/modeling_<family>.py``); the suite checks every
path of every entry on a real model. Torch-free: a page asks `has_known_layout` of a trace's architecture.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """Where one decoder family keeps what interventions reach.

    Paths are dotted attribute names: ``layers``, ``embeddings`` and ``final_norm`` from the causal-LM model,
    the rest from one decoder layer. The output projection's input is every query head's output side by side
    (``[..., heads * head_dim]``, head h at columns ``h * head_dim`` on); ``projection`` says how its weight
    holds those columns (``linear``: ``[out, in]``; ``conv1d``: GPT-2's ``[in, out]``). ``attention_out_norm``
    and ``mlp_out_norm`` sit between a block and the residual stream (Gemma 2/3, OLMo 2): decompositions freeze
    them at their actual scale. Config attributes name the multipliers and the logit post-processing.
    """

    model_type: str
    layers: str = "model.layers"
    embeddings: str = "model.embed_tokens"
    embedding_scale: str = "1"  # what multiplies the token embedding before the first layer (descriptive)
    positions: str = "rotary"  # how positions enter: rotary inside attention, or learned embeddings added
    attention: str = "self_attn"
    qkv: str = "q_proj, k_proj, v_proj"  # the projections making queries, keys and values (fused when one)
    output_projection: str = "o_proj"
    projection: str = "linear"
    mlp: str = "mlp"  # the module whose output is what the MLP adds
    flat_mlp: bool = False  # the MLP runs on every row's tokens flattened into one axis (OPT)
    attention_in_norm: str | None = "input_layernorm"
    mlp_in_norm: str | None = "post_attention_layernorm"
    attention_out_norm: str | None = None
    mlp_out_norm: str | None = None
    final_norm: str = "model.norm"
    norm: str = "rms"  # rms, rms_plus_one (Gemma: scale 1 + weight) or layer (LayerNorm: centred, with bias)
    parallel: bool = False  # attention and MLP read the same input and add to the residual together
    parallel_flag: str | None = None  # config attribute that decides it (GPT-NeoX's use_parallel_residual)
    residual_multiplier: str | None = None  # config attribute scaling each block's write (Granite)
    logits_divisor: str | None = None  # config attribute dividing the LM head's output (Granite)
    logit_softcap: str | None = None  # config attribute: logits = cap * tanh(logits / cap) (Gemma 2/3)

    @property
    def post_norms(self) -> bool:
        """Whether a norm sits between a block's output and the residual stream (frozen when decomposed)."""
        return self.attention_out_norm is not None or self.mlp_out_norm is not None


_GEMMA = dict(embedding_scale="sqrt(hidden_size)", norm="rms_plus_one")
_GEMMA2 = _GEMMA | dict(
    mlp_in_norm="pre_feedforward_layernorm",
    attention_out_norm="post_attention_layernorm",
    mlp_out_norm="post_feedforward_layernorm",
    logit_softcap="final_logit_softcapping",
)

FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (
        Family(model_type="llama"),
        Family(model_type="mistral"),
        Family(model_type="qwen2"),
        Family(model_type="qwen3"),
        Family(model_type="gemma", **_GEMMA),
        Family(model_type="gemma2", **_GEMMA2),
        Family(model_type="gemma3_text", **_GEMMA2),
        Family(model_type="phi3", qkv="qkv_proj"),
        Family(
            model_type="phi",
            output_projection="dense",
            mlp_in_norm=None,
            final_norm="model.final_layernorm",
            norm="layer",
            parallel=True,
        ),
        Family(
            model_type="gpt2",
            layers="transformer.h",
            embeddings="transformer.wte",
            positions="learned (transformer.wpe)",
            attention="attn",
            qkv="c_attn",
            output_projection="c_proj",
            projection="conv1d",
            attention_in_norm="ln_1",
            mlp_in_norm="ln_2",
            final_norm="transformer.ln_f",
            norm="layer",
        ),
        Family(
            model_type="gpt_neox",
            layers="gpt_neox.layers",
            embeddings="gpt_neox.embed_in",
            attention="attention",
            qkv="query_key_value",
            output_projection="dense",
            final_norm="gpt_neox.final_layer_norm",
            norm="layer",
            parallel_flag="use_parallel_residual",
        ),
        Family(
            model_type="opt",
            layers="model.decoder.layers",
            embeddings="model.decoder.embed_tokens",
            positions="learned (model.decoder.embed_positions)",
            output_projection="out_proj",
            mlp="fc2",
            flat_mlp=True,
            attention_in_norm="self_attn_layer_norm",
            mlp_in_norm="final_layer_norm",
            final_norm="model.decoder.final_layer_norm",
            norm="layer",
        ),
        Family(
            model_type="olmo2",
            attention_in_norm=None,
            mlp_in_norm=None,
            attention_out_norm="post_attention_layernorm",
            mlp_out_norm="post_feedforward_layernorm",
        ),
        Family(
            model_type="granite",
            embedding_scale="embedding_multiplier",
            residual_multiplier="residual_multiplier",
            logits_divisor="logits_scaling",
        ),
    )
}


def has_known_layout(architecture: str | None) -> bool:
    """Whether a ``config.model_type`` has a family description here."""
    return architecture in FAMILIES


def family_of(architecture: str | None) -> Family | None:
    return FAMILIES.get(architecture) if architecture else None


_UNAVAILABLE = "its heads cannot be decomposed, ablated or patched, nor its layers read through the logit lens"


def missing_layout_reason(architecture: str | None, unknown: str | None = None) -> str:
    """One sentence for a page or a CLI: why a model has no interventions (``unknown``: which part of a known
    family's variant is not described)."""
    named = f"'{architecture}'" if architecture else "this model's architecture"
    if unknown:
        return f"{named} is a known family, but {unknown}, so {_UNAVAILABLE}."
    known = ", ".join(sorted(FAMILIES))
    return (
        f"{named} has no family description here (where its heads, norms, MLPs and logit post-processing live; "
        f"known: {known}), so {_UNAVAILABLE}."
    )


SUITE = "tests/unit/tracing/inspection/test_families.py"
# feature -> the test of SUITE that proves it on every family's tiny random model (parametrised by family)
FEATURES = {
    "trace": "test_the_trace_equals_a_plain_forward",
    "contributions": "test_contributions_add_up_to_the_models_logit",
    "head ablation": "test_a_head_ablation_equals_its_columns_zeroed_in_a_copy",
    "knockout": "test_a_knockout_equals_the_run_with_those_keys_masked",
    "patching": "test_patching_restores_the_clean_run",
    "logit lens": "test_the_logit_lens_last_row_is_the_output",
    "commitment": "test_commitment_ends_in_each_moments_own_rank",
}


def _shape(family: Family) -> list[str]:
    blocks = "parallel" if family.parallel else f"per {family.parallel_flag}" if family.parallel_flag else "sequential"
    post = "frozen" if family.post_norms else "-"
    logits = ", ".join(
        text for text, present in (("divided", family.logits_divisor), ("soft-capped", family.logit_softcap)) if present
    )
    return [family.norm, blocks, post, logits or "-"]


def coverage_table() -> str:
    """The family x feature table (markdown), one row per registered family; each ✓ is the feature's test
    in `SUITE` with that family's parameter, e.g. ``test_patching_restores_the_clean_run[gpt2]``."""
    header = ["family", "norm", "blocks", "post-norms", "logits", *FEATURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, family in sorted(FAMILIES.items()):
        lines.append("| " + " | ".join([f"`{name}`", *_shape(family), *["✓"] * len(FEATURES)]) + " |")
    lines += ["", f"Each ✓ is `{SUITE}::<test>[<family>]`, the test of its column:", ""]
    lines += [f"- {feature}: `{test}`" for feature, test in FEATURES.items()]
    return "\n".join(lines)
