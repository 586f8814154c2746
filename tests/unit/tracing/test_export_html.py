"""The HTML export: one self-contained page (nothing fetched from a network) holding every moment."""

from __future__ import annotations

import json
import re

import numpy as np

from tests.unit.tracing.test_trace import make_trace
from tracing.export_html import attention_summary, render_html, write_html


def embedded_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


def test_page_is_self_contained(tmp_path):
    trace = make_trace()
    trace.moments[1].token = "</script><script>alert(1)</script>"
    page = write_html(trace, tmp_path / "out" / "page.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", page)
    assert "<link" not in page and "@import" not in page
    assert page.count("</script>") == 2  # the data block and the code, nothing injected by a token
    data = embedded_data(page)
    assert [m["token"] for m in data["moments"]] == [m.token for m in trace.moments]
    assert data["moments"][0]["top"][0][0] == "a" and data["moments"][0]["top"][0][2] is True
    assert data["moments"][2]["attention"] is None  # a moment without attention has no attention panel


def test_attention_summary_splits_prompt_and_generated_mass():
    attention = np.zeros((2, 3, 5), dtype=np.float16)
    attention[0, :, 0] = 1.0  # layer 0: everything on the first prompt token
    attention[1, :, 4] = 1.0  # layer 1: everything on the newest generated token
    summary = attention_summary(attention, prompt_len=3, all_tokens=["a", "b", "c", "d", "e"])
    assert summary["layers"] == [[1.0, 0.0], [0.0, 1.0]]
    assert summary["heads"] == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    assert [f[:2] for f in summary["focus"][:2]] == [[0, "a"], [4, "e"]]


def test_page_of_an_empty_trace_still_renders():
    page = render_html(make_trace(moments=0))
    assert embedded_data(page)["moments"] == []
