"""The HTML export: one self-contained page (nothing fetched from a network) holding every moment."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.conftest import CJK_ANSWER
from tests.unit.tracing.core.test_token_text import XIAOMING, XIAOMING_TEXT, xiaoming_trace
from tests.unit.tracing.core.test_trace import make_trace
from tracing.export.html import attention_summary, render_html, write_html


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


def test_an_empty_token_shows_as_the_empty_mark():
    trace = make_trace()
    trace.moments[0].token = ""
    moment = embedded_data(render_html(trace))["moments"][0]
    assert moment["segments"] == [["∅", "frag"]] and moment["label"] == "∅"


def test_page_of_an_empty_trace_still_renders():
    page = render_html(make_trace(moments=0))
    assert embedded_data(page)["moments"] == []


def first_parts(moments: list[dict]) -> str:
    """The generated text as the page draws it, without the faded repeats of split characters."""
    return "".join(text for m in moments for text, cls in m["segments"] if "later" not in cls)


def test_split_characters_read_whole_with_their_bytes_on_hover():
    page = render_html(xiaoming_trace())
    moments = embedded_data(page)["moments"]
    assert [m["token"] for m in moments] == XIAOMING  # the stored tokens stay as they are
    assert moments[0]["segments"] == [["小", "part"]] and moments[1]["segments"] == [["小", "part later"]]
    assert [m["label"] for m in moments[:2]] == ["小¹⁄₂", "小²⁄₂"]
    assert moments[0]["note"] == "part 1 of 2 of 小 (bytes e5 b0 of e5 b0 8f)"
    assert moments[1]["top"][1][0] == "少²⁄₂"  # an alternative read after the same first byte
    assert first_parts(moments) == XIAOMING_TEXT
    # The page names CJK fonts for its text and its tokens, and styles the parts.
    assert re.search(r"body\{font:14px/1.45 [^}]*\"Noto Sans CJK SC\"", page)
    assert re.search(r"#text\{[^}]*font-family:[^}]*\"Noto Sans CJK SC\"[^}]*monospace", page)
    assert ".part{" in page and ".part.later{" in page


@pytest.mark.slow
def test_export_of_a_chinese_trace_shows_characters_not_bytes(cjk_trace):
    data = embedded_data(render_html(cjk_trace))
    moments = data["moments"]
    assert first_parts(moments) == CJK_ANSWER
    assert not any("‹" in text or "\\x" in text for m in moments for text, _ in m["segments"])
    assert all("\\x" not in m["label"] and "‹" not in m["label"] for m in moments)
    assert any(m["note"].startswith("part 1 of 3 of 🍎") for m in moments)


def test_a_lessons_page_carries_its_title_and_its_notes_at_their_moments():
    from tracing.lessons.lesson import Note

    trace = make_trace()
    notes = [Note(1, "看这里：第 2 层第 1 个头 <b>不是</b> HTML", layer=2, head=1), Note(3, "最后一步")]
    page = render_html(trace, title="注意力的一课", notes=notes)
    assert "<title>注意力的一课</title>" in page and "<h1>注意力的一课</h1>" in page
    assert "2 notes" in page
    data = embedded_data(page)
    assert data["title"] == "注意力的一课"
    shown = [m["lesson_note"] for m in data["moments"]]
    assert shown == [
        None,
        {"text": notes[0].text, "head": "layer 2, head 1"},
        None,
        {"text": "最后一步", "head": None},
        None,
    ]
    assert "<b>不是</b>" not in page.split('id="trace-data"')[0]  # note text only inside the JSON, escaped when drawn
    assert "esc(m.lesson_note.text)" in page
    assert "<h1>" + trace.identity.label in render_html(trace)  # without a lesson, the model heads the page
