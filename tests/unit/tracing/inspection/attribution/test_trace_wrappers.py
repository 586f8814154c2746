"""The Trace-level wrappers: a moment, all moments, contrasts from the moment's top-k."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tracing.inspection.attribution import AttributionSettings, attribute_moment, attribute_trace, contrast_choices
from tracing.inspection.attribution.captum_reference import relative_error

pytestmark = pytest.mark.slow


def test_all_moments_matrix_and_one_moment_agree(smollm, greedy_trace):
    matrix = attribute_trace(smollm, greedy_trace, method="input_x_gradient")
    moments = len(greedy_trace.moments)
    assert matrix.scores.shape == (moments, greedy_trace.prompt_len + moments - 1)
    assert matrix.moment_indices.tolist() == list(range(moments))
    assert matrix.target_ids.tolist() == [m.token_id for m in greedy_trace.moments]
    np.testing.assert_allclose(np.exp(matrix.target_scores), [m.prob for m in greedy_trace.moments], rtol=1e-3)
    one = attribute_moment(smollm, greedy_trace, 4, method="input_x_gradient")
    assert relative_error(one.scores, matrix.row(4).scores) <= 1e-4


def test_prompt_only_covers_the_prompt(smollm, greedy_trace):
    matrix = attribute_trace(
        smollm, greedy_trace, method="attention_rollout", settings=AttributionSettings(prompt_only=True), moments=[0, 3]
    )
    assert matrix.scores.shape == (2, greedy_trace.prompt_len) and not np.isnan(matrix.scores).any()


def test_contrast_comes_from_the_moments_top_k(smollm, greedy_trace):
    choices = contrast_choices(greedy_trace, 0)
    assert choices and greedy_trace.moments[0].token_id not in choices
    one = attribute_moment(smollm, greedy_trace, 0, method="saliency", contrast_id=choices[0])
    assert one.contrast_id == choices[0] and one.target_score > 0  # greedy: the chosen token beats the runner-up
    with pytest.raises(ValueError, match="top-k"):
        attribute_moment(smollm, greedy_trace, 0, method="saliency", contrast_id=greedy_trace.moments[0].token_id)
    with pytest.raises(ValueError, match="does not exist"):
        attribute_moment(smollm, greedy_trace, len(greedy_trace.moments), method="saliency")


def test_a_trace_of_another_model_is_refused(smollm, greedy_trace):
    other = dataclasses.replace(greedy_trace, model_id="gpt2")
    with pytest.raises(ValueError, match="made by 'gpt2'"):
        attribute_moment(smollm, other, 0, method="saliency")
