"""The trace store: spilled values come back equal, one session's memory stays within its budget (least
recently used spilled first), idle sessions spill, gone sessions and ended processes leave no files."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from page_glue.spill_folder import remove_ended_folders
from page_glue.store_settings import MB, StoreSettings
from page_glue.trace_store import TRACE_CODEC, Codec, Held, TraceStore
from tracing.core.trace import DecodingSettings, Moment, Trace, load_trace, traces_equal

LAYERS, HEADS = 30, 9  # the offline model's shape, so sizes are those of real traces


def random_trace(moments: int, prompt_len: int = 20, seed: int = 0) -> Trace:
    """A trace with float16 attention rows of the offline model's shape (random values, exact sizes)."""
    rng = np.random.default_rng(seed)
    return Trace(
        model_id="m",
        adapter=None,
        prompt="小明有三个苹果",
        rendered_prompt="小明有三个苹果",
        prompt_ids=list(range(prompt_len)),
        prompt_tokens=[f"t{i}" for i in range(prompt_len)],
        settings=DecodingSettings(max_new_tokens=moments),
        moments=[
            Moment(
                index=i,
                token_id=i,
                token=f"还{i}",
                prob=0.5,
                rank=1,
                entropy=1.0,
                top_ids=np.arange(4, dtype=np.int64),
                top_probs=np.full(4, 0.25, dtype=np.float32),
                top_tokens=["a", "b", "c", "d"],
                eligible_count=1,
                eligible_mask=np.array([True, False, False, False]),
                attention=rng.random((LAYERS, HEADS, prompt_len + i)).astype(np.float16),
                seconds=0.01,
            )
            for i in range(moments)
        ],
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    made = []

    def make(clock=None, **settings) -> TraceStore:
        instance = TraceStore(tmp_path / "spill", StoreSettings(**settings), clock=clock or Clock())
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.close()


def copy_of(trace: Trace, tmp_path) -> Trace:
    return load_trace(trace.save(tmp_path / f"copy-{id(trace)}.safetensors"))


def test_a_real_trace_spills_and_comes_back_equal_to_the_bit(store, greedy_trace, tmp_path):
    kept = store(session_bytes=None)
    original = copy_of(greedy_trace, tmp_path)  # the store's value; greedy_trace stays as the reference
    kept.put("s", "k", original, TRACE_CODEC)
    watch = weakref.ref(original)
    del original
    assert kept.spill_session("s") == greedy_trace.array_nbytes
    gc.collect()
    assert watch() is None, "the store kept the spilled trace in memory"
    assert kept.is_spilled("s", "k") and kept.in_memory_bytes("s") == 0
    back = kept.get("s", "k")
    assert traces_equal(back, greedy_trace)  # every field, every array, float16 attention bit for bit
    for a, b in zip(back.moments, greedy_trace.moments, strict=True):
        assert a.attention.dtype == np.float16
        assert a.attention.tobytes() == b.attention.tobytes()
    assert not kept.is_spilled("s", "k") and kept.in_memory_bytes("s") == greedy_trace.array_nbytes


def test_a_session_never_holds_more_than_its_budget_least_recently_used_spills_first(store):
    traces = [random_trace(40, seed=i) for i in range(4)]
    size = traces[0].array_nbytes
    budget = int(2.5 * size)
    kept = store(session_bytes=budget)
    for i, trace in enumerate(traces):
        kept.put("s", f"t{i}", trace, TRACE_CODEC)
        assert kept.in_memory_bytes("s") <= budget
    assert [kept.is_spilled("s", f"t{i}") for i in range(4)] == [True, True, False, False]
    expected = {f"t{i}": random_trace(40, seed=i) for i in range(4)}
    del traces
    gc.collect()
    assert traces_equal(kept.get("s", "t0"), expected["t0"])  # comes back; t2 is now the least recently used
    assert kept.in_memory_bytes("s") <= budget
    assert [kept.is_spilled("s", f"t{i}") for i in range(4)] == [False, True, True, False]
    kept.put("other", "t", random_trace(40, seed=9), TRACE_CODEC)  # budgets are per session
    assert not kept.is_spilled("other", "t") and kept.in_memory_bytes("s") <= budget
    for key, trace in expected.items():
        assert traces_equal(kept.get("s", key), trace)
        assert kept.in_memory_bytes("s") <= budget


def test_a_value_larger_than_the_budget_is_never_kept_yet_read_once_while_in_use(store, tmp_path):
    reads = []
    codec = Codec("trace.safetensors", lambda path: reads.append(path) or TRACE_CODEC.load(path), lambda t: [t])
    kept = store(session_bytes=1 * MB)
    big = random_trace(60)
    assert big.array_nbytes > 1 * MB
    kept.put("s", "big", copy_of(big, tmp_path), codec)
    gc.collect()
    assert kept.in_memory_bytes("s") == 0 and kept.is_spilled("s", "big")
    first = kept.get("s", "big")
    assert kept.in_memory_bytes("s") == 0 and traces_equal(first, big)
    assert kept.get("s", "big") is first  # still in use: the same object, no second read
    assert len(reads) == 1
    del first
    gc.collect()
    assert traces_equal(kept.get("s", "big"), big) and len(reads) == 2


def test_idle_sessions_spill_and_active_ones_stay(store):
    clock = Clock()
    kept = store(session_bytes=None, idle_seconds=60.0, clock=clock)
    kept.put("idle", "t", random_trace(10, seed=1), TRACE_CODEC)
    kept.put("busy", "t", random_trace(10, seed=2), TRACE_CODEC)
    clock.now += 50
    kept.get("busy", "t")
    assert kept.sweep() == 0  # nobody idle for a minute yet
    clock.now += 20
    released = kept.sweep()
    assert kept.is_spilled("idle", "t") and not kept.is_spilled("busy", "t")
    assert released == random_trace(10, seed=1).array_nbytes
    assert traces_equal(kept.get("idle", "t"), random_trace(10, seed=1))


def test_gone_sessions_are_forgotten_with_their_files(tmp_path):
    clock = Clock()
    connected = {"stays"}
    kept = TraceStore(tmp_path / "spill", StoreSettings(None, 60.0), clock=clock, session_alive=connected.__contains__)
    try:
        for session in ("stays", "leaves"):
            kept.put(session, "t", random_trace(5), TRACE_CODEC)
            kept.spill_session(session)
        assert len(list(kept.folder.rglob("*.safetensors"))) == 2
        kept.sweep()  # "leaves" is seen disconnected now
        clock.now += 700
        kept.sweep()
        assert kept.sessions() == ["stays"]
        assert len(list(kept.folder.rglob("*.safetensors"))) == 1
    finally:
        kept.close()


def test_a_dropped_handle_takes_its_value_and_file_with_it(store):
    kept = store(session_bytes=None)
    held = Held(kept, "s", random_trace(5), TRACE_CODEC)
    kept.spill_session("s")
    files = list(kept.folder.rglob("*.safetensors"))
    assert len(files) == 1 and held.spilled
    del held
    gc.collect()
    assert files[0].exists()  # a finalizer only marks it: it may run inside the store's own locked sections
    assert kept.in_memory_bytes("s") == 0 and not files[0].exists()


def test_an_updated_value_is_the_one_that_comes_back(store):
    kept = store(session_bytes=None)
    held = Held(kept, "s", random_trace(5, seed=1), TRACE_CODEC)
    kept.spill_session("s")
    held.get()
    held.update(random_trace(7, seed=2))  # changed after a spill: its file is stale and must be rewritten
    kept.spill_session("s")
    gc.collect()
    assert traces_equal(held.get(), random_trace(7, seed=2))


def test_folders_of_ended_processes_go_and_running_ones_stay(tmp_path):
    root = tmp_path / "spill"
    ended = root / "12345-deadbeef"
    ended.mkdir(parents=True)
    (ended / ".lock").touch()
    (ended / "x.trace.safetensors").write_bytes(b"old")
    running = TraceStore(root)
    try:
        assert not ended.exists()
        assert remove_ended_folders(root) == [] and running.folder.exists()  # its lock is held
        second = TraceStore(root)
        assert running.folder.exists()
        second.close()
    finally:
        running.close()
    assert not running.folder.exists()


def test_settings_come_from_the_environment_with_clear_errors():
    assert StoreSettings.from_environment({}) == StoreSettings()
    settings = StoreSettings.from_environment({"MOMENTSCOPE_SESSION_MB": "16", "MOMENTSCOPE_IDLE_MINUTES": "0.5"})
    assert settings == StoreSettings(16 * MB, 30.0)
    assert StoreSettings.from_environment({"MOMENTSCOPE_SESSION_MB": "0", "MOMENTSCOPE_IDLE_MINUTES": "0"}) == (
        StoreSettings(None, None)
    )
    for bad in ("lots", "-3", "nan", "inf"):
        with pytest.raises(ValueError, match="MOMENTSCOPE_SESSION_MB must be a number >= 0"):
            StoreSettings.from_environment({"MOMENTSCOPE_SESSION_MB": bad})
