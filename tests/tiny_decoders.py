"""Tiny random decoders of every family in `model_zoo.families`, built from their transformers configs (no
download) and saved with the offline tokenizer as a user's folder, for the family, steering and offload suites."""

from __future__ import annotations

from pathlib import Path

import torch

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=256)  # fmt: skip
CONFIGS = {
    "llama": SMALL,
    "mistral": SMALL,
    "qwen2": SMALL,
    "qwen3": SMALL | dict(head_dim=16),
    "gemma": SMALL | dict(head_dim=16),
    "gemma2": SMALL | dict(head_dim=16, final_logit_softcapping=5.0, query_pre_attn_scalar=16),
    "gemma3_text": SMALL | dict(head_dim=16, final_logit_softcapping=5.0, query_pre_attn_scalar=16),
    "phi3": SMALL | dict(pad_token_id=0),
    "phi": SMALL,
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, n_positions=256, bos_token_id=0, eos_token_id=0),
    "gpt_neox": {k: v for k, v in SMALL.items() if k != "num_key_value_heads"},
    "opt": dict(
        hidden_size=64,
        ffn_dim=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        word_embed_proj_dim=64,
        max_position_embeddings=256,
    ),  # fmt: skip
    "olmo2": SMALL,
    "granite": SMALL
    | dict(
        embedding_multiplier=2.0, residual_multiplier=0.5, logits_scaling=4.0, attention_multiplier=0.2
    ),  # fmt: skip
}

LAYER_KEYS = ("num_hidden_layers", "n_layer")


def with_layers(settings: dict, layers: int) -> dict:
    """``settings`` with ``layers`` decoder layers, whatever the family calls that setting."""
    return {key: layers if key in LAYER_KEYS else value for key, value in settings.items()}


def save_tiny_decoder(family: str, settings: dict, tokenizer, folder: Path, seed: int) -> str:
    """A random ``family`` model of ``settings`` with ``tokenizer``'s vocabulary, saved with the tokenizer into
    ``folder``. Weights get noise on top of the initialisation, so norms have non-unit gains and biases are
    non-zero."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.for_model(family, vocab_size=len(tokenizer), **settings)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
