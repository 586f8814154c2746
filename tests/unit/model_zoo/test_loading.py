"""Loading the offline models for real: conversion cache, generation, errors."""

from __future__ import annotations

import time

import pytest
import torch

from model_zoo import ModelLoadError, load_model
from model_zoo.gguf_cache import DONE_MARKER, conversion_target
from model_zoo.loading import package_folder

pytestmark = pytest.mark.slow


def test_offline_chat_model_answers_a_chat_prompt(smollm):
    assert smollm.device.type == "cpu" and smollm.dtype == torch.float32
    assert smollm.model.config._attn_implementation == "eager"
    assert smollm.is_chat
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = smollm.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = smollm.model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = smollm.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_converted_cache_matches_the_gguf_load(smollm):
    from transformers import AutoModelForCausalLM

    entry = smollm.entry
    assert (conversion_target(entry.id, entry.package) / DONE_MARKER).exists()
    gguf = AutoModelForCausalLM.from_pretrained(
        package_folder(entry.package), gguf_file=entry.file, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    ids = smollm.tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    with torch.inference_mode():
        expected = gguf(ids).logits
        actual = smollm.model(ids).logits
    assert torch.equal(expected, actual)


def test_second_load_is_fast(smollm):
    start = time.perf_counter()
    again = load_model("smollm2-135m-instruct", device="cpu")
    assert time.perf_counter() - start < 10  # generous: the goal (< 2 s) is measured, not asserted, on shared CPUs
    assert again.model is not smollm.model


def test_encoder_loads_as_encoder(minilm):
    assert minilm.entry.kind == "encoder"
    batch = minilm.tokenizer(["a sentence"], return_tensors="pt")
    with torch.inference_mode():
        out = minilm.model(**batch, output_attentions=True)
    assert len(out.attentions) == 6 and out.attentions[0].shape[-1] == batch.input_ids.shape[1]


def test_unknown_hub_id_offline_gives_a_clear_error():
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="cannot be reached .*offline"):
        load_model("no-such-user/no-such-model")
    assert time.perf_counter() - start < 10  # fails fast, not after the hub client's retries


def test_encoder_asked_for_as_causal_lm_is_named(minilm, tmp_path):
    minilm.model.save_pretrained(tmp_path)
    minilm.tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="not a causal language model"):
        load_model(str(tmp_path))


def test_conversion_is_atomic_under_a_fresh_home(tmp_path, monkeypatch):
    """A conversion that fails half way leaves no folder that later loads would trust."""
    import model_zoo.gguf_cache as gguf_cache

    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))

    def broken(gguf_path, out):
        (out / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(gguf_cache, "convert_gguf", broken)
    with pytest.raises(ModelLoadError, match="disk full"):
        load_model("smollm2-135m-instruct")
    assert not list((tmp_path / "converted").glob("*/model.safetensors"))  # the partial write was removed


def test_a_conversion_stopped_by_a_restart_is_cleaned_up_and_done_again(tmp_path, monkeypatch):
    """A server killed in the middle of the first conversion leaves its temporary folder (and the lock file, whose
    lock the kernel released); the next load converts again and removes what the stopped one left."""
    import model_zoo.gguf_cache as gguf_cache
    from model_zoo import resolve

    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    entry = resolve("smollm2-135m-instruct")
    target = gguf_cache.conversion_target(entry.id, entry.package)
    stopped = target.parent / f".{target.name}-k1ll3d"
    stopped.mkdir(parents=True)
    (stopped / "model.safetensors").write_bytes(b"half of it")
    (target.parent / f".{target.name}.lock").write_text("")
    assert gguf_cache.needs_conversion(entry)

    def quick(gguf_path, out):
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(gguf_cache, "convert_gguf", quick)
    folder = gguf_cache.converted_folder(target, tmp_path / "model.gguf", lambda fraction, message: None)
    assert folder == target and (target / gguf_cache.DONE_MARKER).exists()
    assert not gguf_cache.needs_conversion(entry)
    assert sorted(p.name for p in target.parent.iterdir() if p.is_dir()) == [target.name]
