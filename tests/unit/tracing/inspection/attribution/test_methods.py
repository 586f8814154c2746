"""Every registered method on the offline model: shapes, defining properties, batching, bad input, locking."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from model_zoo import LoadedModel, ModelEntry
from tracing.inspection.attribution import (
    AttributionSettings,
    attribute_position,
    attribute_positions,
    method_names,
    methods_for,
)
from tracing.inspection.attribution.captum_reference import relative_error

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sequence(smollm):
    prompt = smollm.tokenizer.encode("Roses are red, violets are")
    with smollm.lock, torch.no_grad():
        out = smollm.model.generate(torch.tensor([prompt]), max_new_tokens=3, min_new_tokens=3, do_sample=False)
    return out[0].tolist(), len(prompt)


@pytest.mark.parametrize(
    "method", ["integrated_gradients", "input_x_gradient", "saliency", "feature_ablation", "attention_rollout"]
)
def test_each_method_covers_exactly_the_positions_before_each_moment(smollm, sequence, method):
    ids, p = sequence
    positions = list(range(p, len(ids)))
    matrix = attribute_positions(
        smollm, ids, positions, method=method, settings=AttributionSettings(n_steps=4), prompt_length=p
    )
    assert matrix.scores.shape == (3, len(ids) - 1) and matrix.scores.dtype == np.float32
    for row, position in enumerate(positions):
        assert np.all(np.isfinite(matrix.scores[row, :position]))
        assert np.all(np.isnan(matrix.scores[row, position:]))
        assert np.any(matrix.scores[row, :position] != 0)
    assert (matrix.deltas is not None) == (method == "integrated_gradients")
    if method == "saliency":
        assert np.nanmin(matrix.scores) >= 0
    if method == "attention_rollout":
        np.testing.assert_allclose(np.nansum(matrix.scores, axis=1), 1.0, atol=1e-4)


def test_one_moment_equals_its_row_of_all_moments(smollm, sequence):
    ids, p = sequence
    settings = AttributionSettings(n_steps=6)
    matrix = attribute_positions(smollm, ids, list(range(p, len(ids))), settings=settings, prompt_length=p)
    one = attribute_position(smollm, ids, p + 1, settings=settings, prompt_length=p)
    assert one.moment_index == 1 and one.scores.shape == (p + 1,)
    assert relative_error(one.scores, matrix.scores[1, : p + 1]) <= 1e-4
    assert one.delta == pytest.approx(float(matrix.deltas[1]), abs=1e-4)


def test_contrast_is_the_difference_of_the_two_tokens_attributions(smollm, sequence):
    """IG is linear in the explained function: IG[log p(A) - log p(B)] = IG[log p(A)] - IG[log p(B)]."""
    ids, p = sequence
    settings = AttributionSettings(n_steps=6)
    contrast = 42
    both = attribute_position(smollm, ids, p, settings=settings, prompt_length=p, contrast_id=contrast)
    only_a = attribute_position(smollm, ids, p, settings=settings, prompt_length=p)
    as_b = list(ids)
    as_b[p] = contrast
    only_b = attribute_position(smollm, as_b, p, settings=settings, prompt_length=p)
    assert both.contrast_id == contrast
    assert both.target_score == pytest.approx(only_a.target_score - only_b.target_score, abs=1e-4)
    assert relative_error(both.scores, only_a.scores - only_b.scores) <= 1e-3


def test_feature_ablation_score_is_the_drop_when_one_token_is_replaced(smollm, sequence):
    ids, p = sequence
    one = attribute_position(smollm, ids, p, method="feature_ablation", prompt_length=p)
    j = 2
    ablated = list(ids[:p])
    ablated[j] = one.settings.baseline_id
    with torch.no_grad():
        real = torch.log_softmax(smollm.model(torch.tensor([ids[:p]])).logits[0, -1], -1)[ids[p]]
        cut = torch.log_softmax(smollm.model(torch.tensor([ablated])).logits[0, -1], -1)[ids[p]]
    assert one.scores[j] == pytest.approx((real - cut).item(), abs=1e-4)


@pytest.mark.parametrize("method", ["integrated_gradients", "feature_ablation"])
def test_a_tight_memory_bound_batches_without_changing_results(smollm, sequence, method):
    ids, p = sequence
    positions = list(range(p, len(ids)))
    roomy = attribute_positions(
        smollm, ids, positions, method=method, settings=AttributionSettings(n_steps=4), prompt_length=p
    )
    tight = attribute_positions(
        smollm,
        ids,
        positions,
        method=method,
        settings=AttributionSettings(n_steps=4, max_batch_tokens=8),
        prompt_length=p,
    )
    np.testing.assert_array_equal(np.isnan(tight.scores), np.isnan(roomy.scores))
    covered = ~np.isnan(roomy.scores)
    assert relative_error(tight.scores[covered], roomy.scores[covered]) <= 1e-4  # float32 batching noise only


def test_model_is_left_as_found(smollm, sequence):
    ids, p = sequence
    before = [q.requires_grad for q in smollm.model.parameters()]
    attention = smollm.model.config._attn_implementation
    attribute_position(smollm, ids, p, method="saliency", prompt_length=p)
    assert [q.requires_grad for q in smollm.model.parameters()] == before
    assert not smollm.model.training
    assert smollm.model.config._attn_implementation == attention == "eager"  # gradient methods ran on sdpa


def test_gradient_methods_give_the_eager_attention_numbers_and_restore_it_on_error(smollm, sequence, monkeypatch):
    """Gradient methods switch to fused attention for the run: same scores as eager attention's, and the eager
    weights the trace views and rollout read are back afterwards, even when the method fails."""
    from tracing.inspection.attribution import scoring

    ids, p = sequence
    fused = attribute_position(smollm, ids, p, method="integrated_gradients", settings=AttributionSettings(n_steps=4))
    monkeypatch.setattr(scoring, "GRADIENT_ATTENTION", None)  # stay on eager
    eager = attribute_position(smollm, ids, p, method="integrated_gradients", settings=AttributionSettings(n_steps=4))
    assert relative_error(fused.scores, eager.scores) <= 1e-3
    monkeypatch.undo()

    def fail(*args, **kwargs):
        assert smollm.model.config._attn_implementation == "sdpa"  # the switch happened before the failure
        raise RuntimeError("method failed")

    monkeypatch.setattr(scoring.TargetScorer, "score_columns", fail)
    with pytest.raises(RuntimeError, match="method failed"):
        attribute_position(smollm, ids, p, method="saliency", prompt_length=p)
    assert smollm.model.config._attn_implementation == "eager"
    assert attribute_position(smollm, ids, p, method="attention_rollout").scores.shape == (p,)


def test_attribution_waits_for_the_model_lock(smollm, sequence):
    ids, p = sequence
    finished = threading.Event()
    with smollm.lock:
        worker = threading.Thread(
            target=lambda: (attribute_position(smollm, ids, p, method="attention_rollout"), finished.set())
        )
        worker.start()
        time.sleep(0.5)
        assert not finished.is_set()  # another session holds the model
    worker.join(timeout=60)
    assert finished.is_set()


def _tiny_llama(attn_implementation: str) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    config._attn_implementation = attn_implementation
    return LlamaForCausalLM(config).eval()


def test_rollout_on_a_model_without_attention_weights_says_so(smollm):
    entry = ModelEntry(id="tiny-sdpa", kind="causal-lm", source="local")
    loaded = LoadedModel(entry, _tiny_llama("sdpa"), smollm.tokenizer, torch.device("cpu"), torch.float32, 0.0)
    with pytest.raises(ValueError, match="needs attention weights"):
        attribute_position(loaded, [1, 2, 3, 4], 3, method="attention_rollout")
    reasons = methods_for(loaded)
    assert reasons["attention_rollout"] and reasons["integrated_gradients"] is None


def test_an_encoder_is_refused_by_every_method(smollm):
    entry = ModelEntry(id="some-encoder", kind="encoder", source="local")
    loaded = LoadedModel(entry, _tiny_llama("eager"), smollm.tokenizer, torch.device("cpu"), torch.float32, 0.0)
    for method in method_names():
        with pytest.raises(ValueError, match="causal language model"):
            attribute_position(loaded, [1, 2, 3], 2, method=method)
