"""The top-k bars and the logit lens label each token where it would stand: a byte that completes a character
shows that character, marked as its last part."""

from __future__ import annotations

import numpy as np

from components.probabilities import logit_lens_figure, top_k_figure
from tests.unit.tracing.core.test_token_text import xiaoming_trace
from tracing.inspection.logit_lens import LogitLens


def test_top_k_labels_read_in_context():
    trace = xiaoming_trace()  # moment 1 completes 小; the runner-up byte would have made 少
    bars = top_k_figure(trace, 1).data[0]
    assert list(bars.y) == ["1. 小²⁄₂", "2. 少²⁄₂", "3. ·a", "4. ⟨|im_end|⟩"]
    assert "part 2 of 2 of 少 (bytes 91 of e5 b0 91)" in bars.customdata[1]
    assert "Noto Sans CJK SC" in top_k_figure(trace, 0).layout.yaxis.tickfont.family


def test_logit_lens_cells_read_in_context():
    trace = xiaoming_trace()
    lens = LogitLens(
        moment_index=1,
        token_id=trace.moments[1].token_id,
        token=trace.moments[1].token,
        layer_names=["embeddings", "layer 0"],
        top_ids=np.array([[1, 2], [3, 4]], dtype=np.int64),
        top_probs=np.array([[0.5, 0.2], [0.7, 0.1]], dtype=np.float32),
        top_tokens=[["‹91›", " the"], ["‹8f›", "‹e6 98›"]],
        chosen_probs=np.array([0.1, 0.7], dtype=np.float32),
        chosen_ranks=np.array([3, 1], dtype=np.int64),
    )
    heatmap = logit_lens_figure(lens, trace).data[0]
    assert list(heatmap.x)[0] == "chosen 小²⁄₂"
    assert [list(row) for row in heatmap.text] == [["#3", "少²⁄₂", "·the"], ["#1", "小²⁄₂", "‹e6 98›"]]
