"""Every encoder family of `model_zoo.encoder_families` on a tiny random classifier loaded from its folder
(`load_classifier`, through `model_zoo.load_model`), against independent references: the class probabilities
and attention equal a plain transformers forward of the same folder; Integrated Gradients equals Captum's
own LayerIntegratedGradients on the word embeddings; Feature Ablation equals a token replaced by hand; the
contributions add up to the model's logit difference; a head ablation equals the output dense's columns
zeroed in a copy of the model, and a layer's ablation all of them."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients

from model_zoo.encoder_families import ENCODER_FAMILIES
from model_zoo.encoder_layout import encoder_layout_of
from tests.unit.tracing.encoders.conftest import CONFIGS, LABELS
from tracing.encoders.ablation import ablate
from tracing.encoders.attribution import attribute_decision, baseline_ids
from tracing.encoders.contributions import decision_contributions
from tracing.encoders.decision import decide, load_classifier
from tracing.encoders.results import from_json, to_json
from tracing.inspection.attribution import AttributionSettings

TEXT, PAIR = "the film was slow but the ending was wonderful", "would watch again"
LABEL, CONTRAST, LAYER, HEAD = 2, 0, 1, 2


def test_every_encoder_family_has_a_tiny_model_here():
    assert set(CONFIGS) == set(ENCODER_FAMILIES)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def family(request, encoder_folders):
    """(loaded classifier, a plain transformers copy of the same folder, the plain forward's inputs)."""
    from transformers import AutoModelForSequenceClassification

    folder = encoder_folders[request.param]
    loaded = load_classifier(folder, device="cpu")
    assert loaded.architecture == request.param and encoder_layout_of(loaded.base_model) is not None
    plain = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    accepted = inspect.signature(plain.forward).parameters
    inputs = {k: v for k, v in loaded.tokenizer(TEXT, PAIR, return_tensors="pt").items() if k in accepted}
    return loaded, plain, inputs


def plain_logits(model, inputs, **kwargs) -> torch.Tensor:
    with torch.inference_mode():
        return model(**inputs, **kwargs).logits[0].float()


def test_probabilities_and_attention_equal_a_plain_forward(family):
    loaded, plain, inputs = family
    decision = decide(loaded, TEXT, PAIR)
    with torch.inference_mode():
        out = plain(**inputs, output_attentions=True)
    assert decision.labels == LABELS
    np.testing.assert_allclose(decision.probs, out.logits[0].softmax(-1).numpy(), atol=1e-5)
    attention = torch.stack([a[0] for a in out.attentions]).numpy()
    np.testing.assert_allclose(decision.attention.astype(np.float32), attention, atol=2e-3)
    assert decision.segments.tolist().count(1) == len(loaded.tokenizer(PAIR)["input_ids"]) - 1  # pair + its [SEP]
    assert from_json(to_json(decision)).logits.tolist() == decision.logits.tolist()


def test_integrated_gradients_equals_captums_layer_integrated_gradients(family):
    loaded, plain, inputs = family
    settings = AttributionSettings(n_steps=24)
    ours = attribute_decision(loaded, TEXT, LABEL, pair=PAIR, contrast=CONTRAST, settings=settings)

    def score(ids):
        rows = {k: v.expand(ids.shape[0], -1) for k, v in inputs.items() if k != "input_ids"}
        logits = plain(input_ids=ids, **rows).logits
        return logits[:, LABEL] - logits[:, CONTRAST]

    ids = inputs["input_ids"]
    reference, delta = LayerIntegratedGradients(score, plain.get_input_embeddings()).attribute(
        ids,
        baselines=baseline_ids(loaded, ids, ours.baseline_id),
        n_steps=24,
        method="gausslegendre",
        return_convergence_delta=True,
    )
    np.testing.assert_allclose(ours.scores, reference.sum(-1)[0].detach().numpy(), atol=1e-4, rtol=1e-3)
    assert ours.delta == pytest.approx(float(delta[0]), abs=1e-4)
    assert np.abs(ours.scores).max() > 1e-4  # the scores say something


def test_feature_ablation_equals_a_token_replaced_by_hand(family):
    loaded, plain, inputs = family
    ours = attribute_decision(loaded, TEXT, LABEL, "feature_ablation", pair=PAIR)
    position = 3
    replaced = dict(inputs, input_ids=inputs["input_ids"].clone())
    replaced["input_ids"][0, position] = ours.baseline_id
    clean = plain_logits(plain, inputs).log_softmax(-1)[LABEL]
    dropped = plain_logits(plain, replaced).log_softmax(-1)[LABEL]
    assert ours.scores[position] == pytest.approx(float(clean - dropped), abs=1e-5)
    assert ours.scores[0] == 0.0  # [CLS] is never replaced


def test_contributions_add_up_to_the_logit_difference(family):
    loaded, plain, inputs = family
    result = decision_contributions(loaded, TEXT, LABEL, pair=PAIR, contrast=CONTRAST)
    logits = plain_logits(plain, inputs)
    assert result.logit == pytest.approx(float(logits[LABEL] - logits[CONTRAST]), abs=1e-5)
    assert result.gap == pytest.approx(0.0, abs=1e-3 * max(1.0, abs(result.logit)))
    assert result.heads.shape == (2, 4) and np.abs(result.heads).min() > 0
    assert result.layers.sum() + result.embeddings + result.norm_bias + result.head_at_zero == pytest.approx(
        result.total, abs=1e-5
    )
    assert from_json(to_json(result)).heads.tolist() == result.heads.tolist()


@pytest.mark.parametrize("head", [HEAD, None])
def test_ablation_equals_the_output_dense_columns_zeroed(family, head):
    loaded, plain, inputs = family
    result = ablate(loaded, TEXT, LAYER, head, pair=PAIR)
    layout = encoder_layout_of(loaded.base_model)
    zeroed = copy.deepcopy(plain)
    with torch.no_grad():
        dense = layout.output_projection(zeroed, LAYER)
        dense.weight[:, slice(None) if head is None else layout.head_slice(head)] = 0
    np.testing.assert_allclose(result.logits, plain_logits(zeroed, inputs).numpy(), atol=1e-5)
    np.testing.assert_allclose(result.clean_logits, plain_logits(plain, inputs).numpy(), atol=1e-5)
    assert np.abs(result.logits - result.clean_logits).max() > 1e-5


def test_bad_requests_say_what_is_wrong(family):
    loaded, _, _ = family
    with pytest.raises(ValueError, match="non-empty text"):
        decide(loaded, "   ")
    with pytest.raises(ValueError, match="not a class"):
        attribute_decision(loaded, TEXT, 7)
    with pytest.raises(ValueError, match="must differ"):
        attribute_decision(loaded, TEXT, 1, contrast=1)
    with pytest.raises(ValueError, match="not a head"):
        ablate(loaded, TEXT, 0, 9)


def test_a_classifier_adapter_is_explained_through_its_lora(tmp_path, monkeypatch):
    """A fine-tune's classifier (LoRA on the output denses too): its decision equals the peft model's own
    forward, its contributions add up, and it differs from its base with the same (untrained) head."""
    from tests.tiny_classifier_adapter import CLASSIFIER_LABELS, make_tiny_classifier

    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    loaded = load_classifier(make_tiny_classifier(tmp_path), device="cpu")
    base = load_classifier("minilm-l6", device="cpu", fresh_labels=2)
    decision = decide(loaded, TEXT)
    assert decision.labels == CLASSIFIER_LABELS and decision.model == loaded.identity.name
    with torch.inference_mode():
        reference = loaded.model(**loaded.tokenizer(TEXT, return_tensors="pt")).logits[0].softmax(-1)
    np.testing.assert_allclose(decision.probs, reference.numpy(), atol=1e-5)
    assert np.abs(decide(base, TEXT).probs - decision.probs).max() > 1e-3
    result = decision_contributions(loaded, TEXT, 1, contrast=0)
    assert result.gap == pytest.approx(0.0, abs=1e-3 * max(1.0, abs(result.logit)))


def test_queries_and_keys_make_the_attention(family):
    """The neuron view's vectors: where attention is softmax(q · k / sqrt(d)) (BERT's families), it is that."""
    from components.bertviz_neuron import neuron_page
    from tracing.encoders.neuron import queries_and_keys

    loaded, _, _ = family
    decision = decide(loaded, TEXT, PAIR)
    vectors = queries_and_keys(loaded, TEXT, PAIR)
    layers, heads, tokens, _ = decision.attention.shape
    assert vectors.queries.shape[:3] == vectors.keys.shape[:3] == (layers, heads, tokens)
    if loaded.architecture in ("bert", "roberta", "xlm-roberta", "electra"):
        scores = vectors.queries @ vectors.keys.transpose(0, 1, 3, 2) / np.sqrt(vectors.queries.shape[-1])
        weights = torch.from_numpy(scores).softmax(-1).numpy()
        np.testing.assert_allclose(weights, decision.attention.astype(np.float32), atol=2e-3)
    html = neuron_page(decision.attention, vectors.queries, vectors.keys, decision.tokens, LAYER, HEAD)
    assert "cdnjs" not in html and 'src="http' not in html  # nothing fetched
    assert '"queries":' in html
