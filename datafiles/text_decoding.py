"""Reading an uploaded file's bytes as text: UTF-8 (with or without a BOM) and UTF-16 with a BOM directly,
any other encoding detected with charset-normalizer and marked as a guess the user accepts.

Spreadsheet programs often save CSV as GBK (Chinese Windows) or Windows-1252 (Western Europe). Detection
is trusted only when the best reading is clean (little "chaos" in charset-normalizer's terms); an unsure
or binary file is refused, naming the first byte that is not UTF-8.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import charset_normalizer

MAX_CHAOS = 0.1  # charset-normalizer's share of odd-looking characters; above it a reading is not trusted
# When several encodings read the bytes equally well, the one most files of that kind are saved in wins.
PREFERRED = ("cp1252", "gb18030", "big5", "shift_jis", "euc_kr", "cp1251", "cp1250", "koi8_r")
# What a person calls the encoding (GBK files are read with its superset GB18030).
LABELS = {
    "utf_8": "UTF-8",
    "utf_16": "UTF-16",
    "gb18030": "GBK",
    "gbk": "GBK",
    "gb2312": "GBK",
    "cp1252": "Windows-1252 (Latin-1)",
    "latin_1": "Latin-1",
    "big5": "Big5",
    "shift_jis": "Shift-JIS",
    "cp932": "Shift-JIS",
    "euc_kr": "EUC-KR",
    "cp1251": "Windows-1251 (Cyrillic)",
    "cp1250": "Windows-1250 (Central European)",
    "koi8_r": "KOI8-R",
}


def encoding_label(encoding: str) -> str:
    name = codecs.lookup(encoding).name.replace("-", "_")
    return LABELS.get(name, LABELS.get(encoding, encoding))


@dataclass(frozen=True)
class DecodedText:
    """The text (None when unreadable), the Python codec used, and whether that codec was detected (a guess
    to show the user) rather than certain. When unreadable, ``bad_offset`` is the first non-UTF-8 byte."""

    text: str | None
    encoding: str = "utf-8"
    detected: bool = False
    bad_offset: int = 0

    @property
    def label(self) -> str:
        return encoding_label(self.encoding)


def _detect(raw: bytes) -> str | None:
    if b"\x00" in raw:  # text in an 8-bit or multi-byte encoding never holds NUL; a binary file does
        return None
    matches = [m for m in charset_normalizer.from_bytes(raw) if m.percent_chaos / 100 <= MAX_CHAOS]
    if not matches:
        return None
    best = matches[0]
    tied = {
        name
        for m in matches
        if m.percent_chaos == best.percent_chaos and m.coherence == best.coherence
        for name in m.could_be_from_charset
    }
    return next((name for name in PREFERRED if name in tied), best.encoding)


def read_text(raw: bytes, encoding: str | None = None) -> DecodedText:
    """``raw`` as text: in ``encoding`` when given, else UTF-8/UTF-16 by their marks, else detected."""
    if encoding:
        try:
            return DecodedText(raw.decode(encoding), encoding)
        except UnicodeDecodeError as exc:
            return DecodedText(None, encoding, bad_offset=exc.start)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return DecodedText(raw.decode("utf-16"), "utf-16")
        except UnicodeDecodeError as exc:
            return DecodedText(None, "utf-16", bad_offset=exc.start)
    try:
        return DecodedText(raw.decode("utf-8-sig"), "utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    detected = _detect(raw)
    if detected is None:
        return DecodedText(None, bad_offset=first_bad)
    try:
        return DecodedText(raw.decode(detected), detected, detected=True)
    except UnicodeDecodeError:
        return DecodedText(None, bad_offset=first_bad)
