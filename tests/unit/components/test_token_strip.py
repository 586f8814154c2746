"""Token strips read their tokens in context: a split character shows on each token it spans, as a part,
with its bytes in the hover; specials, spaces and empty tokens follow the one rule of tracing/core/token_text.py."""

from __future__ import annotations

import re

from components.token_strip import CSS, StripToken, strip_html
from tests.unit.tracing.core.test_token_text import XIAOMING


def boxes(html: str) -> list[str]:
    return re.findall(r'<span class="ms-tok[^"]*"[^>]*>.*?</span>(?=<span class="ms-tok|<br>|</div>)', html)


def test_split_characters_show_as_parts_with_their_bytes_on_hover():
    html = strip_html([StripToken(t, title=f"moment {i}") for i, t in enumerate(XIAOMING)])
    tokens = boxes(html)
    assert len(tokens) == len(XIAOMING)
    assert '<span class="ms-part">小</span>' in tokens[0] and '<span class="ms-part ms-later">小</span>' in tokens[1]
    assert 'title="moment 0\npart 1 of 2 of 小 (bytes e5 b0 of e5 b0 8f)"' in tokens[0]
    assert "part 3 of 3 of 苹 (bytes b9 of e8 8b b9)" in tokens[10]
    assert tokens[4] == '<span class="ms-tok" style="background:transparent" title="moment 4">有</span>'
    assert "‹" not in html and "\\x" not in html


def test_a_streaming_strip_shows_the_unfinished_bytes_then_the_character():
    first = strip_html([StripToken(XIAOMING[0])])
    assert '<span class="ms-frag">‹e5 b0›</span>' in first and "not here yet" in first
    both = strip_html([StripToken(t) for t in XIAOMING[:2]])
    assert "ms-frag" not in both and both.count(">小</span>") == 2


def test_specials_spaces_and_empty_tokens():
    html = strip_html(
        [StripToken("⟨|im_end|⟩"), StripToken("⟨|im_end|⟩", special=False), StripToken(" a"), StripToken("")]
    )
    tokens = boxes(html)
    assert "ms-special" in tokens[0] and "ms-special" not in tokens[1]
    assert '<span class="ms-sp">·</span>a' in tokens[2]
    assert '<span class="ms-sp">∅</span>' in tokens[3]


def test_the_strip_names_cjk_fonts():
    assert re.search(r"\.ms-strip \{ font-family: [^}]*\"Noto Sans CJK SC\"[^}]*\"Microsoft YaHei\"[^}]*monospace", CSS)
