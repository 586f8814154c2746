"""Our Integrated Gradients and Feature Ablation give Captum's own LLM wrappers' numbers (rel. error <= 1e-3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracing.inspection.attribution import AttributionSettings, attribute_positions
from tracing.inspection.attribution.captum_reference import (
    captum_feature_ablation,
    captum_integrated_gradients,
    relative_error,
)

pytestmark = pytest.mark.slow
N_STEPS = 8
BOS = 1  # SmolLM2's <|im_start|>, which its chat template puts first


@pytest.fixture(scope="module")
def sequence(smollm):
    """A short prompt led by the BOS-like token, and the model's greedy 3-token continuation."""
    prompt = [BOS, *smollm.tokenizer.encode("The capital of France is")]
    with smollm.lock, torch.no_grad():
        out = smollm.model.generate(torch.tensor([prompt]), max_new_tokens=3, min_new_tokens=3, do_sample=False)
    return out[0].tolist(), len(prompt)


def _ours(smollm, ids, prompt_length, method, **settings):
    positions = list(range(prompt_length, len(ids)))
    settings = AttributionSettings(prompt_only=True, n_steps=N_STEPS, **settings)
    return attribute_positions(smollm, ids, positions, method=method, settings=settings, prompt_length=prompt_length)


def test_integrated_gradients_equals_captum_llm_gradient_attribution(smollm, sequence):
    ids, p = sequence
    ours = _ours(smollm, ids, p, "integrated_gradients")
    captum = captum_integrated_gradients(
        smollm, ids[:p], ids[p:], n_steps=N_STEPS, baseline_id=ours.settings.baseline_id
    )
    assert ours.scores.shape == captum.shape == (3, p)
    assert relative_error(ours.scores, captum) <= 1e-3


def test_feature_ablation_equals_captum_llm_attribution(smollm, sequence):
    ids, p = sequence
    ours = _ours(smollm, ids, p, "feature_ablation")
    captum = captum_feature_ablation(smollm, ids[:p], ids[p:], baseline_id=ours.settings.baseline_id)
    assert relative_error(ours.scores, captum) <= 1e-3


def test_skipped_bos_matches_captum_skip_tokens_and_scores_zero(smollm, sequence):
    ids, p = sequence
    ours = _ours(smollm, ids, p, "integrated_gradients", skip_token_ids=(BOS,))
    captum = captum_integrated_gradients(
        smollm, ids[:p], ids[p:], n_steps=N_STEPS, baseline_id=ours.settings.baseline_id, skip_token_ids=(BOS,)
    )
    assert captum.shape == (3, p - 1)  # Captum leaves the skipped token out
    assert np.all(ours.scores[:, 0] == 0)
    assert relative_error(ours.scores[:, 1:], captum) <= 1e-3


def test_whole_prefix_attribution_equals_captum_on_that_prefix(smollm, sequence):
    """Prefix mode: the last answer token explained by prompt *and* earlier answer tokens, as Captum does when
    handed the whole prefix as its input."""
    ids, p = sequence
    last = len(ids) - 1
    ours = attribute_positions(smollm, ids, [last], settings=AttributionSettings(n_steps=N_STEPS), prompt_length=p)
    captum = captum_integrated_gradients(smollm, ids[:last], [ids[last]], n_steps=N_STEPS, baseline_id=0)
    assert ours.scores.shape == (1, last)
    assert np.all(ours.scores[0, p:] != 0)  # earlier answer tokens get their share
    assert relative_error(ours.scores, captum) <= 1e-3


def test_integrated_gradients_delta_is_the_completeness_gap(smollm, sequence):
    ids, p = sequence
    ours = _ours(smollm, ids, p, "integrated_gradients")
    baseline = [ours.settings.baseline_id] * p
    with torch.no_grad():
        real = torch.log_softmax(smollm.model(torch.tensor([ids])).logits[0].float(), -1)
        base = torch.log_softmax(smollm.model(torch.tensor([baseline + ids[p:]])).logits[0].float(), -1)
    for row, position in enumerate(range(p, len(ids))):
        f_input = real[position - 1, ids[position]].item()
        f_baseline = base[position - 1, ids[position]].item()
        assert ours.target_scores[row] == pytest.approx(f_input, abs=1e-4)
        gap = ours.scores[row].sum() - (f_input - f_baseline)
        assert gap == pytest.approx(ours.deltas[row], abs=1e-3 + 1e-4 * abs(f_input - f_baseline))
