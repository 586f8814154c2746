"""Reading readable tokens in context: a character split over tokens shows as itself on each token it spans,
marked as a part, with its bytes kept; the one home of the special-token, visible-space and empty rules."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.tracing.core.test_trace import make_trace
from tracing.core.token_text import (
    CharPart,
    is_special_text,
    pieces_at,
    readable_pieces,
    span_text,
    token_label,
    token_labels,
)
from tracing.core.trace import Trace

# SmolLM2's readable tokens of "小明有三个苹果": byte-level BPE splits 小, 明 and 三 over two tokens, 苹 over three.
XIAOMING = ["‹e5 b0›", "‹8f›", "‹e6 98›", "‹8e›", "有", "‹e4 b8›", "‹89›", "个", "‹e8›", "‹8b›", "‹b9›", "果"]
XIAOMING_TEXT = "小明有三个苹果"


def xiaoming_trace() -> Trace:
    """A small trace whose generated tokens are XIAOMING; at moment 1 the model weighed 小 against 少."""
    trace = make_trace(moments=len(XIAOMING))
    for moment, token in zip(trace.moments, XIAOMING, strict=True):
        moment.token_id, moment.token = 100 + moment.index, token
        moment.top_ids = np.array([moment.token_id, 200, 201, 202], dtype=np.int64)
        moment.top_tokens = [token, "‹91›", " a", "⟨|im_end|⟩"]
    trace.text = XIAOMING_TEXT
    return trace


def test_split_characters_show_whole_on_every_token_they_span():
    pieces = readable_pieces(XIAOMING)
    assert [p.text for p in pieces] == ["小", "小", "明", "明", "有", "三", "三", "个", "苹", "苹", "苹", "果"]
    assert not any("‹" in p.text or "\\x" in p.text for p in pieces)
    # Joined, each split character counts once: the strip reads back as the text.
    assert "".join(p.joined for p in pieces) == XIAOMING_TEXT
    assert [p.label for p in pieces[8:11]] == ["苹¹⁄₃", "苹²⁄₃", "苹³⁄₃"]
    assert pieces[4].label == "有" and not pieces[4].parts and pieces[4].note == ""


def test_each_part_keeps_its_bytes_for_the_hover():
    pieces = readable_pieces(XIAOMING)
    first, second = pieces[0].parts[0], pieces[1].parts[0]
    assert first == CharPart("小", bytes.fromhex("e5 b0"), "小".encode(), 1, 2)
    assert second.data == b"\x8f" and second.part == 2 and second.whole == "小".encode()
    assert pieces[0].note == "part 1 of 2 of 小 (bytes e5 b0 of e5 b0 8f)"
    parts = [p.parts[0] for p in pieces[8:11]]
    assert b"".join(part.data for part in parts) == "苹".encode()


def test_a_token_can_end_one_character_and_start_the_next():
    pieces = readable_pieces(["‹e5 b0›", "‹8f e6›", "‹98 8e›"])
    assert [p.text for p in pieces] == ["小", "小明", "明"]
    assert pieces[1].label == "小²⁄₂明¹⁄₂"
    assert "".join(p.joined for p in pieces) == "小明"


def test_an_unfinished_character_waits_for_the_next_token():
    streaming = ["‹f0 9f›"]  # the first half of 🎉, the rest not generated yet
    piece = readable_pieces(streaming)[0]
    assert piece.text == "‹f0 9f›" and piece.parts[0].unfinished and piece.joined == ""
    assert "not here yet" in piece.note
    streaming += ["‹8e›"]
    assert [p.text for p in readable_pieces(streaming)] == ["‹f0 9f›", "‹8e›"]  # three of four bytes
    streaming += ["‹89›"]
    assert [p.text for p in readable_pieces(streaming)] == ["🎉", "🎉", "🎉"]
    assert "".join(p.joined for p in readable_pieces(streaming)) == "🎉"


def test_bytes_that_never_make_a_character_stay_fragments():
    # A start byte followed by text, stray continuation bytes, and a special token between two halves.
    pieces = readable_pieces(["a‹e5›", "b", "‹80 81›c", "‹e5 b0›", "⟨|im_end|⟩", "‹8f›"])
    assert [p.text for p in pieces] == ["a‹e5›", "b", "‹80 81›c", "‹e5 b0›", "⟨|im_end|⟩", "‹8f›"]
    assert pieces[2].parts == (CharPart("", b"\x80\x81", b"\x80\x81", 1, 1),)
    assert "not a whole UTF-8 character" in pieces[3].note
    assert pieces[4].special and not pieces[3].special


def test_candidates_are_read_where_they_would_stand():
    before = ["x", "‹e5 b0›"]
    pieces = pieces_at([*before, "‹8f›", "‹e6 98›", "‹8e›"], 2, ["‹8f›", "‹91›", " a", "‹e6 98›"])
    # The chosen token completes 小; an alternative byte completes the character it would have made.
    assert [p.label for p in pieces] == ["小²⁄₂", "少²⁄₂", "·a", "‹e6 98›"]
    # The chosen token that starts a character shows it, read with the tokens after it.
    assert pieces_at([*before, "‹8f›", "‹e6 98›", "‹8e›"], 3, ["‹e6 98›", "‹e6 9c›"])[0].label == "明¹⁄₂"
    # Past the end (the next moment), every candidate reads after the prefix only.
    assert pieces_at(["‹e5 b0›"], 1, ["‹8f›"])[0].label == "小²⁄₂"


def test_trace_reads_its_moments_and_their_top_k_in_context():
    trace = xiaoming_trace()
    generated = trace.token_pieces()[trace.prompt_len :]
    assert "".join(p.joined for p in generated) == trace.text
    assert [p.label for p in trace.candidate_pieces(1, trace.moments[1].top_tokens)][:2] == ["小²⁄₂", "少²⁄₂"]


@pytest.mark.parametrize(
    ("text", "label", "special"),
    [(" the", "·the", False), ("", "∅", False), ("⟨|im_end|⟩", "⟨|im_end|⟩", True), ("⟨", "⟨", False)],
)
def test_one_rule_for_spaces_empties_and_specials(text, label, special):
    assert token_label(text) == label
    assert is_special_text(text) is special
    assert token_labels([text]) == [label]


def test_a_span_of_pieces_holds_each_character_once():
    pieces = readable_pieces(XIAOMING)
    assert span_text(pieces) == XIAOMING_TEXT
    assert span_text(pieces[1:4]) == "小明"  # starts on a later part: that character still shows
    assert span_text(pieces[8:9]) == "苹"
    assert span_text(readable_pieces(["a", "‹e5 b0›"])) == "a‹e5 b0›"  # unfinished: its bytes
