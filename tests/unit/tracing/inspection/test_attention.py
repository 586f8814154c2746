"""Derived views of a moment: head summaries from the stored row, attention squares from one forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.inspection.attention import SUMMARIES, head_summary, prefix_attention, prefix_tokens

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trace(smollm):
    return trace_generation(smollm, "Name three colours.", DecodingSettings(max_new_tokens=6, stop_at_eos=False))


def test_prefix_squares_end_in_the_stored_attention_row(smollm, trace):
    for index in (0, 3, 5):
        squares = prefix_attention(smollm, trace, index)
        n = trace.prompt_len + index
        assert squares.shape == (smollm.num_layers, smollm.num_heads, n, n)
        assert len(prefix_tokens(trace, index)) == n
        np.testing.assert_allclose(squares[:, :, -1, :], trace.moments[index].attention.astype(np.float32), atol=2e-3)
        assert np.allclose(np.triu(squares[0, 0], 1), 0)  # causal: nothing after the query


def test_prefix_attention_refuses_a_moment_outside_the_trace(smollm, trace):
    with pytest.raises(IndexError):
        prefix_attention(smollm, trace, len(trace.moments))


def test_head_summaries_are_shares_and_entropies(trace):
    row = trace.moments[4].attention
    generated = head_summary(row, trace.prompt_len, "generated").values
    expected = row[..., trace.prompt_len :].astype(np.float32).sum(-1)
    np.testing.assert_allclose(generated, expected, rtol=1e-5)
    assert set(SUMMARIES) == {"generated", "first", "entropy"}
    entropy = head_summary(row, trace.prompt_len, "entropy")
    assert entropy.values.shape == row.shape[:2]
    assert (entropy.values >= -1e-4).all() and (entropy.values <= entropy.vmax + 1e-3).all()
