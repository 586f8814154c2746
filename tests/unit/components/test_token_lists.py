"""Plain-text token lists (timeline hovers, most-attended and strongest tokens, Compare's top-k lists and
divergence chart, bertviz labels) show split characters as characters marked as parts, never as bytes."""

from __future__ import annotations

import numpy as np

from components.attention import top_attended
from components.attribution_view import strongest
from components.bertviz_view import bertviz_page
from components.compare_charts import divergence_figure
from components.compare_sides import token_list, top_k_texts
from components.timeline import timeline_figure
from tests.unit.components.test_bertviz_view import squares
from tests.unit.tracing.core.test_token_text import XIAOMING, xiaoming_trace
from tracing.experiments.consistency import Divergence, PathChoice


def test_timeline_hover_reads_moments_in_context():
    labels = list(timeline_figure(xiaoming_trace(), 0).data[0].text)
    assert labels[:5] == ["小¹⁄₂", "小²⁄₂", "明¹⁄₂", "明²⁄₂", "有"] and labels[8:11] == ["苹¹⁄₃", "苹²⁄₃", "苹³⁄₃"]


def test_attention_and_attribution_lists_use_labels():
    weights = np.linspace(0.0, 1.0, len(XIAOMING))  # the last tokens weigh most
    assert [label for label, _ in top_attended(XIAOMING, weights, 3)] == ["果", "苹³⁄₃", "苹²⁄₃"]
    positive, negative = strongest(XIAOMING, weights - 0.5, 2)
    assert [label for label, _ in positive] == ["果", "苹³⁄₃"]
    assert [label for label, _ in negative] == ["小¹⁄₂", "小²⁄₂"]


def test_compare_lists_read_the_moment_in_context():
    trace = xiaoming_trace()
    labels = top_k_texts(trace, 1)
    m = trace.moments[1]
    assert labels[m.token_id] == "小²⁄₂" and labels[200] == "少²⁄₂" and labels[202] == "⟨|im_end|⟩"
    assert token_list([m.token_id, 99_999], labels) == "`小²⁄₂`, `id·99999`"


def test_bertviz_labels_and_font():
    page = bertviz_page("head", squares(1, 1, len(XIAOMING)), XIAOMING, [0])
    assert '"小¹⁄₂","小²⁄₂"' in page.html and "‹" not in page.html
    assert '"Noto Sans CJK SC"' in page.html.split("</style>", 1)[0]


def test_the_divergence_chart_reads_its_tokens_after_the_shared_prefix():
    path = xiaoming_trace()  # the paths shared 小's first bytes, then parted
    divergence = Divergence(
        moment=1,
        top_ids=[101, 200],
        top_tokens=["‹8f›", "‹91›"],
        top_probs=[0.6, 0.3],
        choices=[PathChoice(101, "‹8f›", 0.6), PathChoice(200, "‹91›", 0.3)],
    )
    assert list(divergence_figure(divergence, path).data[0].y) == ["1. 小²⁄₂", "2. 少²⁄₂"]
