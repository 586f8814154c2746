"""A masked LM's one moment on tiny random ``*ForMaskedLM`` models of every encoder family (loaded from their
folders through `model_zoo.load_model`): the prediction at the masked token equals a plain forward, and
Integrated Gradients of a token there equals Captum's LayerIntegratedGradients on the word embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients

from model_zoo import ModelLoadError
from tests.unit.tracing.encoders.conftest import CONFIGS
from tracing.encoders.attribution import baseline_ids
from tracing.encoders.masked import attribute_mask, load_masked_lm, predict_mask
from tracing.encoders.results import from_json, to_json
from tracing.inspection.attribution import AttributionSettings

TEXT = "the film was [MASK] and the ending was wonderful"


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def masked(request, encoder_tokenizer, tmp_path_factory):
    """(loaded masked LM, a plain transformers copy of its folder, the plain forward's inputs)."""
    from transformers import AutoConfig, AutoModelForMaskedLM

    torch.manual_seed(len(request.param))
    config = AutoConfig.for_model(request.param, vocab_size=len(encoder_tokenizer), **CONFIGS[request.param])
    model = AutoModelForMaskedLM.from_config(config, attn_implementation="eager")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    folder = tmp_path_factory.mktemp("masked") / request.param
    model.save_pretrained(folder)
    encoder_tokenizer.save_pretrained(folder)
    loaded = load_masked_lm(str(folder), device="cpu")
    plain = AutoModelForMaskedLM.from_pretrained(folder, attn_implementation="eager").eval()
    inputs = {k: v for k, v in encoder_tokenizer(TEXT, return_tensors="pt").items() if k != "token_type_ids"}
    return loaded, plain, inputs


def test_the_prediction_equals_a_plain_forward(masked):
    loaded, plain, inputs = masked
    prediction = predict_mask(loaded, TEXT, top_k=5)
    position = int((inputs["input_ids"][0] == loaded.tokenizer.mask_token_id).nonzero()[0, 0])
    with torch.inference_mode():
        probs = plain(**inputs).logits[0, position].softmax(-1)
    assert prediction.position == position
    np.testing.assert_allclose(prediction.top_probs, probs.topk(5).values.numpy(), atol=1e-5)
    assert prediction.top_ids.tolist() == probs.topk(5).indices.tolist()
    assert from_json(to_json(prediction)).top_tokens == prediction.top_tokens


def test_integrated_gradients_equals_captums_at_the_mask(masked):
    loaded, plain, inputs = masked
    prediction = predict_mask(loaded, TEXT, top_k=2)
    token, other = (int(i) for i in prediction.top_ids)
    ours = attribute_mask(loaded, TEXT, token, contrast_id=other, settings=AttributionSettings(n_steps=16))

    def score(ids):
        logits = plain(input_ids=ids, attention_mask=inputs["attention_mask"].expand(ids.shape[0], -1)).logits
        return logits[:, prediction.position, token] - logits[:, prediction.position, other]

    reference = LayerIntegratedGradients(score, plain.get_input_embeddings()).attribute(
        inputs["input_ids"], baselines=baseline_ids(loaded, inputs["input_ids"], ours.baseline_id), n_steps=16,
        method="gausslegendre",
    )  # fmt: skip
    np.testing.assert_allclose(ours.scores, reference.sum(-1)[0].detach().numpy(), atol=1e-4, rtol=1e-3)
    assert ours.scores[prediction.position] == 0.0  # the mask itself is never replaced


def test_bad_requests_say_what_is_wrong(masked, encoder_folders):
    loaded, _, _ = masked
    with pytest.raises(ValueError, match=r"exactly one \[MASK\]"):
        predict_mask(loaded, "no mask here")
    with pytest.raises(ModelLoadError, match="not a masked language model"):
        load_masked_lm(encoder_folders["bert"])
