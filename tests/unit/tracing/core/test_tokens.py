"""Readable tokens: no vocabulary artefacts (Ġ, Ċ, ▁, <0x0A>), visible whitespace, marked specials, and
bytes of a character split across tokens kept as fragments that read back, in context, as the character."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from tracing.core.token_text import readable_pieces
from tracing.core.tokens import is_special, readable_token, token_scheme

SAMPLE = "hello world\n\tcafé 😀"
ARTEFACTS = ("Ġ", "Ċ", "ĉ", "▁", "<0x")


def byte_level_tokenizer():
    """A tiny GPT-2-style (byte-level BPE) tokenizer, trained here so the test needs no download."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["hello world\nnew line\ttab café"] * 10, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def sentencepiece_tokenizer():
    """A tiny Llama-2-style tokenizer: ▁ for spaces, <0xNN> byte fallback for characters not in the vocab."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"<0x{b:02X}>": 3 + b for b in range(256)}
    for piece in ["▁", "h", "e", "l", "o", "w", "r", "d", "c", "a", "f", "é"]:
        vocab[piece] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def readable_text(tokens: list[str]) -> str:
    return "".join(tokens).replace("↵", "\n").replace("⇥", "\t")


@pytest.mark.parametrize(
    ("make", "scheme"), [(byte_level_tokenizer, "byte-level"), (sentencepiece_tokenizer, "sentencepiece")]
)
def test_synthetic_tokenizers_read_back_without_artefacts(make, scheme):
    tokenizer = make()
    assert token_scheme(tokenizer) == scheme
    ids = tokenizer(SAMPLE, add_special_tokens=False)["input_ids"]
    tokens = [readable_token(tokenizer, i) for i in ids]
    assert not any(a in t for t in tokens for a in ARTEFACTS), tokens
    assert "↵" in tokens and "⇥" in tokens
    # The emoji is split into single bytes: each token alone is a fragment (never a Python escape), and read
    # in context the whole text comes back exactly (SentencePiece adds its one leading space).
    assert "‹f0›" in tokens and not any("\\x" in t for t in tokens)
    joined = readable_text([p.joined for p in readable_pieces(tokens)])
    assert joined.removeprefix(" " if scheme == "sentencepiece" else "") == SAMPLE


def test_special_tokens_are_marked():
    tokenizer = byte_level_tokenizer()
    eos = tokenizer.eos_token_id
    assert is_special(tokenizer, eos)
    assert readable_token(tokenizer, eos) == "⟨|endoftext|⟩"
    assert not is_special(tokenizer, tokenizer("hello", add_special_tokens=False)["input_ids"][0])


@pytest.mark.slow
def test_smollm_tokens_are_readable(smollm):
    tokenizer = smollm.tokenizer
    text = "Hello world!\n\tIndented line, café, naïve, 東京, 😀 and   spaces."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    tokens = [readable_token(tokenizer, i) for i in ids]
    assert not any(a in t for t in tokens for a in ARTEFACTS), tokens
    assert tokens[:2] == ["Hello", " world"]
    # Whole text round-trips, a character split over tokens (the emoji here) counted once.
    assert readable_text([p.joined for p in readable_pieces(tokens)]) == text
    assert [readable_token(tokenizer, i) for i in (0, 1, 2)] == ["⟨|endoftext|⟩", "⟨|im_start|⟩", "⟨|im_end|⟩"]
    # A wide sample of the vocabulary: no byte-level artefacts anywhere, and nothing raises.
    sample = [readable_token(tokenizer, i) for i in range(0, len(tokenizer), 97)]
    assert not any(c in t for t in sample for c in ("Ġ", "Ċ", "ĉ"))


CJK_TEXTS = ["小明有三个苹果，吃了一个，还剩几个？", "猫が好きです", "🎉👍"]


@pytest.mark.slow
@pytest.mark.parametrize("text", CJK_TEXTS, ids=["chinese", "japanese", "emoji"])
def test_smollm_reads_chinese_japanese_and_emoji_as_characters(smollm, text):
    tokenizer = smollm.tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    tokens = [readable_token(tokenizer, i) for i in ids]
    assert len(tokens) > len(text) / 2 and any("‹" in t for t in tokens)  # byte-level BPE does split these
    pieces = readable_pieces(tokens)
    shown = [p.text for p in pieces]
    assert not any("\\x" in t or "‹" in t or "�" in t for t in shown), shown
    assert set("".join(shown)) == set(text)  # every character, and nothing else
    assert "".join(p.joined for p in pieces) == text
    # Each split character's parts hold its bytes, in order, for the hover.
    for piece in pieces:
        for part in piece.parts:
            assert part.char and part.char.encode() == part.whole and part.data in part.whole
            assert f"of {part.char} (bytes {part.data.hex(' ')}" in piece.note
    split = [part for piece in pieces for part in piece.parts]
    assert split and all(1 <= part.part <= part.parts <= 4 for part in split)
