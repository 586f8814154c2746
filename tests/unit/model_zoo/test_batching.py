"""Batched decoding: every stream served by the model's scheduler gets the trace it gets alone.

The reference is the model's own unbatched KV-cache steps (`KVCacheSteps`, which the decode tests check
against `generate` and a teacher-forced pass): same tokens, probabilities within 1e-4, attention rows
within 2e-3, whatever joins, leaves, stops, stalls or fails beside it.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

from model_zoo.batching import AWAY_STEPS, GATHER_SECONDS, scheduler_for
from model_zoo.seam import KVCacheSteps
from tests.conftest import CJK_PROMPT
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings

PROMPTS = [
    "What is 47 + 38?",
    CJK_PROMPT,
    "Write the first sentence of a story about a lighthouse keeper who finds a message in a bottle.",
    "Name a colour.",
]


@contextlib.contextmanager
def unbatched(loaded):
    loaded.batching = False
    try:
        yield
    finally:
        loaded.batching = True


def solo(loaded, prompt, settings):
    with unbatched(loaded):
        return trace_generation(loaded, prompt, settings)


def assert_same_trace(got, want):
    assert [m.token_id for m in got.moments] == [m.token_id for m in want.moments]
    assert got.stop_reason == want.stop_reason
    for a, b in zip(got.moments, want.moments, strict=True):
        assert abs(a.prob - b.prob) <= 1e-4
        assert abs(a.entropy - b.entropy) <= 1e-3
        np.testing.assert_allclose(a.top_probs, b.top_probs, atol=1e-4)
        assert a.attention.shape == b.attention.shape
        np.testing.assert_allclose(a.attention.astype(np.float32), b.attention.astype(np.float32), atol=2e-3)


def together(loaded, jobs):
    """Runs ``jobs`` (callables) in threads started at once; their results (or exceptions) in order."""
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(i, job):
        barrier.wait()
        try:
            results[i] = job()
        except Exception as exc:  # the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def served(loaded):
    scheduler = scheduler_for(loaded)
    return scheduler.passes, scheduler.rows_served


def test_concurrent_greedy_traces_equal_their_solo_traces_and_share_passes(smollm):
    lengths = [12, 9, 14, 6]  # each leaves the batch at its own step
    wanted = [solo(smollm, p, DecodingSettings(max_new_tokens=n)) for p, n in zip(PROMPTS, lengths, strict=True)]
    passes, rows = served(smollm)
    got = together(
        smollm,
        [
            lambda p=p, n=n: trace_generation(smollm, p, DecodingSettings(max_new_tokens=n))
            for p, n in zip(PROMPTS, lengths, strict=True)
        ],
    )
    for trace, want in zip(got, wanted, strict=True):
        assert_same_trace(trace, want)
    passes_after, rows_after = served(smollm)
    assert rows_after - rows == sum(lengths)  # every step served once...
    assert passes_after - passes < sum(lengths) / 2  # ...in shared passes


def test_seeded_sampling_is_the_same_in_a_batch(smollm):
    settings = [DecodingSettings(max_new_tokens=10, do_sample=True, temperature=1.2, seed=s) for s in (1, 2, 3)]
    wanted = [solo(smollm, PROMPTS[0], s) for s in settings]
    got = together(smollm, [lambda s=s: trace_generation(smollm, PROMPTS[0], s) for s in settings])
    for trace, want in zip(got, wanted, strict=True):
        assert_same_trace(trace, want)
    assert len({tuple(m.token_id for m in t.moments) for t in got}) > 1  # the seeds did differ


def test_a_stream_joining_mid_run_and_a_slow_one_still_get_their_own_trace(smollm):
    """One trace starts while another is half done; a third's consumer stalls past the gather window (a hole
    in its row) and then for longer than AWAY_STEPS passes (it leaves the batch and rejoins)."""
    first, second, slow = (DecodingSettings(max_new_tokens=n) for n in (16, 8, 10))
    wanted = [solo(smollm, PROMPTS[0], first), solo(smollm, PROMPTS[1], second), solo(smollm, PROMPTS[2], slow)]
    started = threading.Event()

    def early():
        return trace_generation(smollm, PROMPTS[0], first, on_moment=lambda m: m.index == 6 and started.set())

    def late():
        started.wait(60)
        return trace_generation(smollm, PROMPTS[1], second)

    def stalling(moment):
        if moment.index == 2:
            time.sleep(GATHER_SECONDS * 2)
        if moment.index == 5:
            time.sleep(0.5)  # several passes of the others go by

    got = together(smollm, [early, late, lambda: trace_generation(smollm, PROMPTS[2], slow, on_moment=stalling)])
    for trace, want in zip(got, wanted, strict=True):
        assert_same_trace(trace, want)
    assert AWAY_STEPS >= 1


def test_stop_ends_only_that_trace(smollm):
    settings = DecodingSettings(max_new_tokens=12)
    wanted = solo(smollm, PROMPTS[0], settings)
    stop = threading.Event()
    got = together(
        smollm,
        [
            lambda: trace_generation(smollm, PROMPTS[0], settings),
            lambda: trace_generation(
                smollm, PROMPTS[1], settings, on_moment=lambda m: m.index == 3 and stop.set(), should_stop=stop.is_set
            ),
        ],
    )
    assert_same_trace(got[0], wanted)
    assert got[1].stop_reason == "stopped" and len(got[1].moments) == 4


def test_a_failing_request_does_not_break_the_others(smollm):
    settings = DecodingSettings(max_new_tokens=10)
    wanted = solo(smollm, PROMPTS[0], settings)

    def failing_consumer():
        def explode(moment):
            if moment.index == 3:
                raise RuntimeError("consumer failed")

        return trace_generation(smollm, PROMPTS[1], settings, on_moment=explode)

    def bad_token():
        with smollm.steps() as stream:
            stream.step(smollm.tokenizer("Hello")["input_ids"])
            stream.step([10**9])

    got = together(smollm, [lambda: trace_generation(smollm, PROMPTS[0], settings), failing_consumer, bad_token])
    assert_same_trace(got[0], wanted)
    assert isinstance(got[1], RuntimeError) and "consumer failed" in str(got[1])
    assert isinstance(got[2], ValueError) and "Token ids must lie in" in str(got[2])


def test_a_closed_stream_refuses_steps_and_the_unbatched_path_is_the_models_own(smollm):
    stream = smollm.steps()
    stream.close()
    with pytest.raises(RuntimeError, match="closed"):
        stream.step([1])
    with unbatched(smollm):
        assert isinstance(smollm.steps(), KVCacheSteps)
