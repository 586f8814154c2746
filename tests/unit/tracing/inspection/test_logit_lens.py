"""The logit lens, checked against each decoder layer's output captured by hooks and pushed through the
final norm and LM head by hand; and the trace engine on small random GPT-2 and Llama models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from model_zoo import LoadedModel, ModelEntry
from model_zoo.layout import layout_of_model
from tests.unit.tracing.conftest import teacher_forced
from tests.unit.tracing.core.test_tokens import byte_level_tokenizer
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.inspection.logit_lens import logit_lens


def tiny_model(kind: str) -> LoadedModel:
    torch.manual_seed(0)
    tokenizer = byte_level_tokenizer()
    vocab = len(tokenizer)
    if kind == "gpt2":
        config = GPT2Config(n_layer=3, n_head=2, n_embd=32, vocab_size=vocab, n_positions=64, eos_token_id=0)
        model_class = GPT2LMHeadModel
    else:
        config = LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=vocab, max_position_embeddings=64, eos_token_id=0, bos_token_id=0,
        )  # fmt: skip
        model_class = LlamaForCausalLM
    model = model_class._from_config(config, attn_implementation="eager").eval()
    entry = ModelEntry(id=f"tiny-{kind}", kind="causal-lm", source="local")
    return LoadedModel(entry, model, tokenizer, torch.device("cpu"), torch.float32, 0.0)


def decoder_layers(model) -> list[torch.nn.Module]:
    return list(model.transformer.h) if hasattr(model, "transformer") else list(model.model.layers)


def hand_made_lens(loaded: LoadedModel, ids: list[int]) -> torch.Tensor:
    """Per layer (embeddings first) probabilities at the last position: norm + head applied by hand."""
    states = []
    layers = decoder_layers(loaded.model)
    hooks = [layers[0].register_forward_pre_hook(lambda m, args, kwargs: states.append(
        (args[0] if args else kwargs["hidden_states"])[0, -1]), with_kwargs=True)]  # fmt: skip
    hooks += [layer.register_forward_hook(lambda m, i, out: states.append((out[0] if isinstance(out, tuple) else out)[0, -1])) for layer in layers]  # fmt: skip
    try:
        with torch.inference_mode():
            loaded.model(input_ids=torch.tensor([ids]), use_cache=False)
            norm = layout_of_model(loaded.base_model).final_norm(loaded.base_model)
            logits = loaded.model.get_output_embeddings()(norm(torch.stack(states)))
    finally:
        for hook in hooks:
            hook.remove()
    return torch.softmax(logits, dim=-1)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_tiny_models_trace_and_lens_match_references(kind):
    loaded = tiny_model(kind)
    trace = trace_generation(loaded, "hello world", DecodingSettings(max_new_tokens=5, stop_at_eos=False))
    assert len(trace.moments) == 5
    reference = teacher_forced(loaded, trace)
    probs = torch.softmax(reference.logits, dim=-1)
    for moment, p in zip(trace.moments, probs, strict=True):
        assert moment.prob == pytest.approx(float(p[moment.token_id]), abs=1e-5)
        keys = trace.prompt_len + moment.index
        expected = torch.stack([a[:, keys - 1, :keys] for a in reference.attentions]).numpy()
        np.testing.assert_allclose(moment.attention.astype(np.float32), expected, atol=1e-3)
    for index in (0, 4):
        lens = logit_lens(loaded, trace, index, top_k=3)
        expected = hand_made_lens(loaded, trace.all_ids[: trace.prompt_len + index])
        assert lens.layer_names == ["embeddings", "layer 1", "layer 2", "layer 3"]
        np.testing.assert_allclose(lens.chosen_probs, expected[:, trace.moments[index].token_id].numpy(), atol=1e-5)
        np.testing.assert_allclose(lens.top_probs, torch.topk(expected, 3).values.numpy(), atol=1e-5)


def test_final_norm_is_found_per_architecture():
    gpt2 = tiny_model("gpt2").model
    llama = tiny_model("llama").model
    assert layout_of_model(gpt2).final_norm(gpt2) is gpt2.transformer.ln_f
    assert layout_of_model(llama).final_norm(llama) is llama.model.norm


@pytest.mark.slow
def test_lens_last_layer_is_the_moments_distribution(smollm, greedy_trace):
    index = 3
    moment = greedy_trace.moments[index]
    lens = logit_lens(smollm, greedy_trace, index, top_k=5)
    assert len(lens.layer_names) == smollm.num_layers + 1
    assert lens.top_ids.shape == (smollm.num_layers + 1, 5)
    np.testing.assert_array_equal(lens.top_ids[-1], moment.top_ids[:5])
    np.testing.assert_allclose(lens.top_probs[-1], moment.top_probs[:5], atol=1e-4)
    assert lens.chosen_probs[-1] == pytest.approx(moment.prob, abs=1e-4)
    assert lens.chosen_ranks[-1] == moment.rank
    assert lens.token == moment.token and lens.top_tokens[-1] == moment.top_tokens[:5]
    # Inner layers of a real model predict something else, so the lens is not a copy of the output.
    assert not np.allclose(lens.chosen_probs[: smollm.num_layers // 2], moment.prob, atol=1e-2)
    expected = hand_made_lens(smollm, greedy_trace.all_ids[: greedy_trace.prompt_len + index])
    np.testing.assert_allclose(lens.chosen_probs, expected[:, moment.token_id].numpy(), atol=1e-4)


def test_lens_rejects_a_moment_out_of_range():
    loaded = tiny_model("gpt2")
    trace = trace_generation(loaded, "hello", DecodingSettings(max_new_tokens=2, stop_at_eos=False))
    with pytest.raises(ValueError, match="moment_index must be from 0 to 1"):
        logit_lens(loaded, trace, 2)
