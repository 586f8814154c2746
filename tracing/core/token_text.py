"""Readable tokens as text: the display conventions and reading a sequence of tokens in context.

Works on the readable texts `tracing.core.tokens` makes (and traces store), with no tokenizer and no torch, so
components draw with it directly.

- a space stays a space in the stored text; places that show one token on its own draw it as ``·`` and an
  empty token as ``∅`` (`token_label`);
- a newline is ``↵``, a tab ``⇥``, a carriage return ``␍``; a special token is ``⟨…⟩`` (`is_special_text`);
- bytes that are not a whole UTF-8 character are a fragment, ``‹e5 b0›`` (the first two bytes of 小).

Read in context (`readable_pieces`), a character whose bytes are split over several tokens shows as that
character on every token it spans, each marked as a part of it (`CharPart`: which part, of how many, and
its bytes for a hover); plain-text places mark a part with a small fraction, ``小¹⁄₂``. Bytes that never make
a character stay fragments; bytes at the very end that the next token may complete (a generation still
streaming) are an unfinished fragment until it arrives. `pieces_at` reads single-token alternatives (a
moment's top-k, a layer's guesses) where they would stand, after the tokens before them.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

VISIBLE = str.maketrans({"\n": "↵", "\t": "⇥", "\r": "␍"})
VISIBLE_SPACE = "·"
EMPTY_TOKEN = "∅"
SPECIAL_OPEN, SPECIAL_CLOSE = "⟨", "⟩"
FRAGMENT = re.compile(r"‹((?:[0-9a-f]{2} )*[0-9a-f]{2})›")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")  # part i of n is marked ⁱ⁄ₙ
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
# A character has at most 4 bytes, so at most 3 tokens before one can hold the start of its character.
CONTEXT_TOKENS = 3
# Fonts that draw every token: CJK (Simplified, Japanese), then colour emoji; the generic family last.
CJK_FONTS = (
    '"Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "PingFang SC", "Hiragino Sans", '
    '"Microsoft YaHei", "Yu Gothic", "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji"'
)
TEXT_FONT_STACK = f'system-ui, -apple-system, "Segoe UI", Roboto, {CJK_FONTS}, sans-serif'
MONO_FONT_STACK = f'ui-monospace, SFMono-Regular, Menlo, Consolas, "Noto Sans Mono CJK SC", {CJK_FONTS}, monospace'


def fragment(data: bytes) -> str:
    """Bytes that are not a whole character, as text: ``‹e5 b0›``."""
    return f"‹{data.hex(' ')}›"


def is_special_text(text: str) -> bool:
    """Whether a readable token is a special token (``⟨|im_end|⟩``)."""
    return len(text) >= 2 and text.startswith(SPECIAL_OPEN) and text.endswith(SPECIAL_CLOSE)


def visible_spaces(text: str) -> str:
    return text.replace(" ", VISIBLE_SPACE)


def token_label(text: str) -> str:
    """One readable token for plain-text places (labels, hovers, captions): spaces as ``·``, empty as ``∅``."""
    return visible_spaces(text) or EMPTY_TOKEN


@dataclass(frozen=True)
class CharPart:
    """Part of a character whose bytes are split over tokens, as one of those tokens holds it.

    ``char`` is the character, or "" when the bytes make none: an unfinished one (``unfinished``: the text
    ends before it does, so the next token may complete it) or bytes that are no UTF-8 at all.
    """

    char: str
    data: bytes  # this token's bytes of it
    whole: bytes  # all its bytes (so far)
    part: int  # 1-based
    parts: int
    unfinished: bool = False

    @property
    def shown(self) -> str:
        return self.char or fragment(self.data)

    @property
    def marked(self) -> str:
        """Plain text with the part marked: ``小¹⁄₂``; a fragment as it is."""
        if not self.char:
            return fragment(self.data)
        return f"{self.char}{str(self.part).translate(SUPERSCRIPT)}⁄{str(self.parts).translate(SUBSCRIPT)}"

    @property
    def note(self) -> str:
        """A hover text naming the character and the bytes."""
        mine = self.data.hex(" ")
        if self.char:
            return f"part {self.part} of {self.parts} of {self.char} (bytes {mine} of {self.whole.hex(' ')})"
        if self.unfinished:
            return f"bytes {mine}: the start of a character whose other bytes are not here yet"
        return f"bytes {mine}: not a whole UTF-8 character"


Segment = tuple[str, CharPart | None]  # plain text, or the part of a split character


@dataclass(frozen=True)
class TokenPiece:
    """One token read in context: plain text and parts of split characters, in order."""

    segments: tuple[Segment, ...]

    @property
    def parts(self) -> tuple[CharPart, ...]:
        return tuple(part for _, part in self.segments if part is not None)

    @property
    def text(self) -> str:
        """What the token shows: a split character in full on each token it spans."""
        return "".join(part.shown if part else text for text, part in self.segments)

    @property
    def joined(self) -> str:
        """The token's share of the text: a split character counts once, on the token that completes it, so
        joining a strip's pieces gives its text back (an unfinished character gives nothing yet)."""
        out = []
        for text, part in self.segments:
            if part is None:
                out.append(text)
            elif part.char:
                out.append(part.char if part.part == part.parts else "")
            elif not part.unfinished:
                out.append(fragment(part.data))
        return "".join(out)

    @property
    def marked(self) -> str:
        """Plain text with each part marked (``小¹⁄₂``), spaces kept."""
        return "".join(part.marked if part else text for text, part in self.segments)

    @property
    def label(self) -> str:
        """Plain text for labels and hovers: parts marked, spaces as ``·``, empty as ``∅``."""
        return "".join(part.marked if part else visible_spaces(text) for text, part in self.segments) or EMPTY_TOKEN

    @property
    def note(self) -> str:
        """What a hover should add: each split character and its bytes ("" for a token of whole characters)."""
        return "\n".join(part.note for part in self.parts)

    @property
    def special(self) -> bool:
        return not self.parts and is_special_text(self.text)


def _chunks(text: str) -> Iterator[str | bytes]:
    """A readable token as plain-text and fragment-byte chunks, in order."""
    start = 0
    for match in FRAGMENT.finditer(text):
        if match.start() > start:
            yield text[start : match.start()]
        yield bytes.fromhex(match.group(1))
        start = match.end()
    if start < len(text):
        yield text[start:]


def _utf8_units(data: bytes, open_end: bool) -> Iterator[tuple[int, int, str, bool]]:
    """(start, end, character, unfinished) over ``data``: whole characters, single bytes that start none
    (character ""), and, when ``open_end``, an unfinished character at the end."""
    i = 0
    while i < len(data):
        lead = data[i]
        size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        chunk = data[i : i + size]
        if len(chunk) == size:
            try:
                yield i, i + size, chunk.decode("utf-8"), False
                i += size
                continue
            except UnicodeDecodeError:
                pass
        elif open_end and lead >= 0xC2:
            try:  # a valid start of a character that the next token may finish
                codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
                yield i, len(data), "", True
                return
            except UnicodeDecodeError:
                pass
        yield i, i + 1, "", False
        i += 1


def _resolve(run: list[tuple[int, int]], segments: list[list[Segment]], open_end: bool) -> None:
    """Gives each token of a run of fragment bytes ``[(token, byte)]`` its characters or parts of them."""
    data = bytes(byte for _, byte in run)
    for start, end, char, unfinished in _utf8_units(data, open_end):
        owners: list[tuple[int, bytearray]] = []
        for token, byte in run[start:end]:
            if owners and owners[-1][0] == token:
                owners[-1][1].append(byte)
            else:
                owners.append((token, bytearray([byte])))
        if char and len(owners) == 1:
            segments[owners[0][0]].append((char, None))
            continue
        for number, (token, mine) in enumerate(owners, start=1):
            part = CharPart(char, bytes(mine), data[start:end], number, len(owners), unfinished)
            last = segments[token][-1][1] if segments[token] else None
            if not char and not unfinished and last is not None and not last.char and not last.unfinished:
                merged = last.data + part.data  # neighbouring stray bytes of one token read as one fragment
                segments[token][-1] = ("", CharPart("", merged, merged, 1, 1))
            else:
                segments[token].append(("", part))
    run.clear()


def readable_pieces(texts: Sequence[str]) -> list[TokenPiece]:
    """A sequence of readable tokens (prompt and generated, in order) read in context: each token's
    characters, with those split over several tokens shown on each and marked as parts."""
    segments: list[list[Segment]] = [[] for _ in texts]
    run: list[tuple[int, int]] = []
    for token, text in enumerate(texts):
        for chunk in _chunks(text):
            if isinstance(chunk, bytes):
                run.extend((token, byte) for byte in chunk)
                continue
            if run:
                _resolve(run, segments, open_end=False)
            segments[token].append((chunk, None))
    if run:
        _resolve(run, segments, open_end=True)
    return [TokenPiece(tuple(s)) for s in segments]


def span_text(pieces: Sequence[TokenPiece]) -> str:
    """The text of consecutive pieces (a few tokens out of a sequence) with each split character once, on
    the first of these pieces that holds a part of it; leftover bytes as fragments."""
    out = []
    for index, piece in enumerate(pieces):
        for text, part in piece.segments:
            if part is None or not part.char:
                out.append(part.shown if part else text)
            elif part.part == 1 or index == 0:  # a later part opens a token: the span may start there
                out.append(part.char)
    return "".join(out)


def token_labels(texts: Sequence[str]) -> list[str]:
    """`TokenPiece.label` of each token of a sequence, read in context."""
    return [piece.label for piece in readable_pieces(texts)]


def pieces_at(texts: Sequence[str], position: int, candidates: Sequence[str]) -> list[TokenPiece]:
    """Candidates for the token at ``position`` of ``texts`` (a moment's top-k, a layer's guesses), each read
    where it would stand, after ``texts[:position]``; the candidate that is ``texts[position]`` is also
    read with the tokens after it, so it shows the character it starts."""
    start = max(0, position - CONTEXT_TOKENS)
    before = list(texts[start:position])
    actual = None
    if position < len(texts):
        window = list(texts[start : position + CONTEXT_TOKENS + 1])
        actual = readable_pieces(window)[position - start]
    return [
        actual if actual is not None and candidate == texts[position] else readable_pieces([*before, candidate])[-1]
        for candidate in candidates
    ]
