"""Readable text for single tokens, free of tokenizer artefacts.

Conventions (the same everywhere a token is shown; `tracing.core.token_text` reads them back):
- a space stays a space (so a token strip concatenates back into the text);
- a newline shows as ``↵``, a tab as ``⇥``, a carriage return as ``␍``;
- a special token shows in angle brackets: ``<|im_end|>`` -> ``⟨|im_end|⟩``;
- bytes that are not whole UTF-8 characters on their own (小 split over two tokens) show as a fragment,
  ``‹e5 b0›``, which `tracing.core.token_text.readable_pieces` joins with its neighbours into the character.

Byte-level BPE (GPT-2, Llama 3, SmolLM: ``Ġ``/``Ċ``) and SentencePiece (``▁``, ``<0x0A>``) vocabularies are
mapped back to their bytes; any other tokenizer falls back to its own ``decode``.
"""

from __future__ import annotations

import contextlib
import json
import re
import weakref
from functools import lru_cache

from tracing.core.token_text import VISIBLE, fragment

BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")  # bytes that ``surrogateescape`` could not decode
_facts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """GPT-2's printable-character -> byte table (the inverse of its ``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def token_scheme(tokenizer) -> str:
    """How the vocabulary spells bytes: "byte-level", "sentencepiece" or "other" (cached per tokenizer)."""
    return _tokenizer_facts(tokenizer)[0]


def is_special(tokenizer, token_id: int) -> bool:
    """Whether the id is one of the tokenizer's special tokens (EOS, chat markers, padding...)."""
    return int(token_id) in _tokenizer_facts(tokenizer)[1]


def _tokenizer_facts(tokenizer) -> tuple[str, frozenset[int]]:
    try:
        return _facts[tokenizer]
    except (KeyError, TypeError):
        pass
    specials = {int(i) for i in (getattr(tokenizer, "all_special_ids", None) or [])}
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    specials |= {int(i) for i, token in added.items() if getattr(token, "special", False)}
    facts = (_detect_scheme(tokenizer), frozenset(specials))
    with contextlib.suppress(TypeError):
        _facts[tokenizer] = facts
    return facts


def _detect_scheme(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    if decoder is not None:
        try:
            spec = json.dumps(json.loads(backend.to_str()).get("decoder"), ensure_ascii=False)
        except (ValueError, AttributeError):
            spec = type(decoder).__name__
        if "ByteLevel" in spec:
            return "byte-level"
        if "Metaspace" in spec or "▁" in spec or "ByteFallback" in spec:
            return "sentencepiece"
        return "other"
    if getattr(tokenizer, "byte_decoder", None):
        return "byte-level"
    if getattr(tokenizer, "sp_model", None) is not None:
        return "sentencepiece"
    return "other"


def token_bytes(tokenizer, token_id: int) -> bytes | None:
    """The bytes a token stands for, or None when the vocabulary's spelling is not understood."""
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if piece is None:
        return None
    scheme = token_scheme(tokenizer)
    if scheme == "byte-level":
        table = byte_decoder()
        if all(ch in table for ch in piece):
            return bytes(table[ch] for ch in piece)
        return None
    if scheme == "sentencepiece":
        match = BYTE_TOKEN.match(piece)
        if match:
            return bytes([int(match.group(1), 16)])
        return piece.replace("▁", " ").encode("utf-8")
    return None


def readable_bytes(data: bytes) -> str:
    """UTF-8 text with control characters made visible and bytes that are no whole character as fragments."""
    text = data.decode("utf-8", errors="surrogateescape")
    text = ESCAPED_BYTES.sub(lambda run: fragment(run.group().encode("utf-8", "surrogateescape")), text)
    return text.translate(VISIBLE)


def readable_token(tokenizer, token_id: int) -> str:
    """One token as a person should see it (see the module docstring for the conventions)."""
    token_id = int(token_id)
    if is_special(tokenizer, token_id):
        piece = tokenizer.convert_ids_to_tokens(token_id) or f"special {token_id}"
        if piece.startswith("<") and piece.endswith(">"):
            piece = piece[1:-1]
        return f"⟨{piece}⟩"
    data = token_bytes(tokenizer, token_id)
    if data is not None:
        return readable_bytes(data)
    try:
        text = tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    except Exception:  # an id a tokenizer cannot decode is shown, not raised
        return f"⟨id {token_id}⟩"
    return text.translate(VISIBLE)


def readable_tokens(tokenizer, token_ids) -> list[str]:
    return [readable_token(tokenizer, i) for i in token_ids]
