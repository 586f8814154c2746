"""Commitment: one teacher-forced pass gives, for every moment, the logit lens of that moment at every layer."""

from __future__ import annotations

import numpy as np
import pytest

from tracing.inspection.interventions import commitment
from tracing.inspection.interventions.commitment_map import deciding_layers
from tracing.inspection.logit_lens import logit_lens

pytestmark = pytest.mark.slow


def test_each_row_is_that_moments_logit_lens(model_and_trace):
    loaded, trace = model_and_trace
    result = commitment(loaded, trace)
    assert result.ranks.shape == (len(trace.moments), loaded.num_layers + 1)
    assert list(result.ranks[:, -1]) == [m.rank for m in trace.moments]  # the last column is the output
    for index in (0, len(trace.moments) - 1):
        lens = logit_lens(loaded, trace, index)
        assert list(result.ranks[index]) == list(lens.chosen_ranks)
        np.testing.assert_allclose(result.probs[index], lens.chosen_probs, atol=1e-4)
    assert result.layer_names == lens.layer_names


def test_the_deciding_layer_is_where_the_token_stays_on_top():
    ranks = np.array([[5, 1, 2, 1, 1], [1, 1, 1, 1, 1], [3, 1, 1, 1, 2], [4, 3, 2, 1, 1]])
    assert list(deciding_layers(ranks)) == [3, 0, -1, 3]


def test_another_models_trace_is_refused(adapter, short_trace):
    with pytest.raises(ValueError, match="made by 'smollm2-135m-instruct'"):
        commitment(adapter, short_trace)
