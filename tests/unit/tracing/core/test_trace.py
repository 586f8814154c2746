"""The trace types: settings validation, one-file storage that loads back equal, exact comparison."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tracing import DecodingSettings, Moment, Trace, load_trace, trace_differences, traces_equal


def make_moment(index: int, prompt_len: int, rng: np.random.Generator, attention: bool = True) -> Moment:
    k = 4
    probs = np.sort(rng.random(k).astype(np.float32))[::-1].copy()
    return Moment(
        index=index,
        token_id=int(rng.integers(100)),
        token=f" tok{index}↵",
        prob=float(probs[0]),
        rank=1,
        entropy=float(rng.random()),
        top_ids=rng.integers(0, 100, k).astype(np.int64),
        top_probs=probs,
        top_tokens=["a", " b", "⟨|im_end|⟩", "é"],
        eligible_count=1,
        eligible_mask=np.array([True, False, False, False]),
        attention=rng.random((3, 2, prompt_len + index)).astype(np.float16) if attention else None,
        seconds=0.01 * index,
    )


def make_trace(moments: int = 5) -> Trace:
    rng = np.random.default_rng(0)
    return Trace(
        model_id="m",
        adapter="m-lora",
        prompt="Say ‘hi’ 😀",
        rendered_prompt="<s>Say ‘hi’ 😀",
        prompt_ids=[1, 2, 3],
        prompt_tokens=["⟨s⟩", "Say", " ‘hi’ 😀"],
        settings=DecodingSettings(max_new_tokens=5, do_sample=True, top_p=0.9, seed=3),
        moments=[make_moment(i, 3, rng, attention=i != 2) for i in range(moments)],
        stop_reason="eos",
        text=" tok0\n tok1",
        prefill_seconds=0.5,
        info={"device": "cpu"},
    )


def test_save_then_load_is_equal(tmp_path):
    trace = make_trace()
    path = trace.save(tmp_path / "nested" / "t.safetensors")
    loaded = load_trace(path)
    assert traces_equal(loaded, trace), trace_differences(loaded, trace)
    assert loaded == trace
    assert loaded.moments[0].attention.dtype == np.float16
    assert loaded.moments[2].attention is None
    assert loaded.settings == trace.settings
    assert loaded.all_ids == trace.all_ids and loaded.num_layers == 3 and loaded.num_heads == 2


def test_empty_trace_round_trips(tmp_path):
    trace = make_trace(moments=0)
    assert load_trace(trace.save(tmp_path / "t.safetensors")) == trace


def test_differences_are_found_field_by_field():
    a, b = make_trace(), make_trace()
    assert traces_equal(a, b)
    b.moments[3].attention = b.moments[3].attention.copy()
    b.moments[3].attention[0, 0, 0] += np.float16(0.01)
    b.stop_reason = "stopped"
    assert trace_differences(a, b) == ["stop_reason differs", "moment 3: attention differs"]
    c = make_trace()
    c.moments[1].top_probs = c.moments[1].top_probs.astype(np.float64)  # same values, other dtype
    assert not traces_equal(a, c)


def test_saving_rejects_wrong_dtypes(tmp_path):
    trace = make_trace()
    trace.moments[0].attention = trace.moments[0].attention.astype(np.float32)
    with pytest.raises(TypeError, match="attention must be float16"):
        trace.save(tmp_path / "t.safetensors")


def test_loading_something_else_is_a_value_error(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a trace")
    with pytest.raises(ValueError, match="not a trace"):
        load_trace(junk)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 4097}, "max_new_tokens"),
        ({"max_new_tokens": 2.5}, "max_new_tokens"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.01}, "top_p"),
        ({"seed": -3}, "seed"),
        ({"record_top_k": 0}, "record_top_k"),
    ],
)
def test_settings_validation_names_the_bad_setting(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(DecodingSettings(), **change).validate()
    assert DecodingSettings().validate() == DecodingSettings()
