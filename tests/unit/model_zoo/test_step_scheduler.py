"""Batched decoding: every stream served by the model's scheduler gets the trace it gets alone.

Kept prefixes (a prompt read before, the chat template's system part) are checked the same way: a stream
that starts from one gets what it gets reading its whole prefix alone, and a rerun alone gets its first
run's numbers exactly.

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
import torch

from model_zoo.seam import KVCacheSteps
from model_zoo.step_scheduler import AWAY_STEPS, GATHER_SECONDS, _Prefixes, _Rows, scheduler_for
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


def test_a_prefix_whose_reading_fails_fails_alone(smollm, monkeypatch):
    """A pass reading new prefixes fails (here: one holds a poisoned token); each is read again alone, so
    only that stream gets the error and the others get their solo steps. (Started at once, the three are
    read in one pass: failing them all together fails this test.)"""
    scheduler = scheduler_for(smollm)
    scheduler.prefixes.clear()
    good = [smollm.tokenizer(p)["input_ids"] for p in PROMPTS[:2]]
    poison = 4321
    assert all(poison not in ids for ids in good)
    forward = scheduler._forward

    def failing(ids, *args, **kwargs):
        if bool((ids == poison).any()):
            raise RuntimeError("poisoned pass")
        return forward(ids, *args, **kwargs)

    monkeypatch.setattr(scheduler, "_forward", failing)

    def batched(ids):
        with smollm.steps() as stream:
            return stream.step(ids), stream.step([42])

    got = together(smollm, [lambda i=i: batched(i) for i in [*good, [1, 2, poison, 3]]])
    assert isinstance(got[2], RuntimeError) and "poisoned" in str(got[2])
    for ids, steps in zip(good, got[:2], strict=True):
        with KVCacheSteps(smollm) as alone:
            for step, want in zip(steps, (alone.step(ids), alone.step([42])), strict=True):
                np.testing.assert_allclose(step.logits.float().numpy(), want.logits.float().numpy(), atol=2e-4)


def test_a_one_token_prefix_is_read_and_answered_alone(smollm):
    """Nothing is read before a one-token prefix's step: its pass answers it, and its next step follows."""
    scheduler = scheduler_for(smollm)
    passes = scheduler.passes
    with smollm.steps() as stream:
        got = stream.step([9906]), stream.step([42])
    assert scheduler.passes - passes == 2
    with KVCacheSteps(smollm) as alone:
        for step, want in zip(got, (alone.step([9906]), alone.step([42])), strict=True):
            np.testing.assert_allclose(step.logits.float().numpy(), want.logits.float().numpy(), atol=2e-4)
            np.testing.assert_allclose(step.attention.astype(np.float32), want.attention.astype(np.float32), atol=2e-3)


def test_a_closed_stream_refuses_steps_and_the_unbatched_path_is_the_models_own(smollm):
    stream = smollm.steps()
    stream.close()
    with pytest.raises(RuntimeError, match="closed"):
        stream.step([1])
    with unbatched(smollm):
        assert isinstance(smollm.steps(), KVCacheSteps)


def test_a_prompt_read_before_is_not_read_again_and_gives_the_same_trace(smollm):
    scheduler = scheduler_for(smollm)
    scheduler.prefixes.clear()
    settings = DecodingSettings(max_new_tokens=6)
    prompt = "Name three rivers in China."
    wanted = solo(smollm, prompt, settings)
    prompt_len = len(wanted.prompt_ids)
    first = trace_generation(smollm, prompt, settings)  # nothing kept yet: all but its last token read in a pass
    assert_same_trace(first, wanted)
    reused = scheduler.tokens_reused
    again = trace_generation(smollm, prompt, settings)
    assert_same_trace(again, wanted)
    assert scheduler.tokens_reused - reused == prompt_len - 1  # all but the last token, which a step reads
    for a, b in zip(again.moments, first.moments, strict=True):  # the same passes, alone: the same numbers
        np.testing.assert_array_equal(a.top_probs, b.top_probs)
        np.testing.assert_array_equal(a.attention, b.attention)

    other = "Name three rivers in Japan."  # the chat template and most of the question are shared
    reused = scheduler.tokens_reused
    assert_same_trace(trace_generation(smollm, other, settings), solo(smollm, other, settings))
    assert 0 < scheduler.tokens_reused - reused < prompt_len - 1


def test_a_class_on_one_prompt_joins_the_first_reader_and_matches_its_solo_trace(smollm):
    """Three streams start on the prompt a fourth has just read: they join its batch at the next step."""
    scheduler = scheduler_for(smollm)
    scheduler.prefixes.clear()
    settings = DecodingSettings(max_new_tokens=10)
    wanted = solo(smollm, CJK_PROMPT, settings)
    first_moment = threading.Event()

    def first():
        return trace_generation(smollm, CJK_PROMPT, settings, on_moment=lambda m: m.index == 0 and first_moment.set())

    def later():
        first_moment.wait(60)
        return trace_generation(smollm, CJK_PROMPT, settings)

    reused = scheduler.tokens_reused
    for trace in together(smollm, [first, later, later, later]):
        assert_same_trace(trace, wanted)
    assert scheduler.tokens_reused - reused == 3 * (len(wanted.prompt_ids) - 1)


def test_kept_and_unkept_prefixes_read_in_one_pass_give_their_solo_steps(smollm):
    """One left-padded pass over a stream resuming a kept prefix (with the rest of its prompt to read) and a
    stream sharing nothing: each gets the logits and attention row it gets alone, and its next step too."""
    scheduler = scheduler_for(smollm)
    scheduler.prefixes.clear()
    ids = smollm.tokenizer("The lighthouse keeper found a message in a bottle on the beach")["input_ids"]
    with smollm.steps() as stream:
        stream.step(ids[:6])  # kept: the first five tokens (the sixth is read by a step)
    prefixes = [ids, smollm.tokenizer("日出江花红胜火")["input_ids"]]

    def alone(prefix):
        with KVCacheSteps(smollm) as steps:
            return steps.step(prefix), steps.step([42])

    def batched(prefix):
        with smollm.steps() as stream:
            return stream.step(prefix), stream.step([42])

    reused = scheduler.tokens_reused
    for prefix, got in zip(prefixes, together(smollm, [lambda p=p: batched(p) for p in prefixes]), strict=True):
        for step, want in zip(got, alone(prefix), strict=True):
            np.testing.assert_allclose(step.logits.float().numpy(), want.logits.float().numpy(), atol=2e-4)
            assert step.attention.shape == want.attention.shape
            np.testing.assert_allclose(step.attention.astype(np.float32), want.attention.astype(np.float32), atol=2e-3)
    assert scheduler.tokens_reused - reused == 5


def test_kept_prefixes_stay_within_their_budget(smollm):
    def rows(columns: int) -> _Rows:
        layer = torch.ones(1, 1, columns, 4)
        return _Rows([(layer, layer)], torch.ones(1, columns, dtype=torch.bool), [None])

    per_column = rows(1).nbytes()
    kept = _Prefixes(max_bytes=10 * per_column, max_entries=3)
    kept.keep([1, 2, 3, 4], rows(4))
    kept.keep([1, 2, 9], rows(3))
    assert kept.longest([1, 2, 3, 4])[0] == 3  # never the last token: a step must compute its logits
    assert kept.longest([1, 2, 3, 4, 5])[0] == 4 and kept.longest([7, 8])[0] == 0
    kept.keep([5, 6, 7, 8, 9], rows(5))  # 12 columns in all: the least recently used, [1, 2, 9], goes
    assert kept.longest([1, 2, 9, 9])[0] == 2 and kept.longest([5, 6, 7, 8, 9, 1])[0] == 5
    kept.keep(list(range(11)), rows(11))  # larger than the whole budget: not kept
    assert kept.longest([*range(11), 0])[0] == 0
    holes = _Rows([(torch.arange(6.0).reshape(1, 1, 6, 1),) * 2], torch.tensor([[0, 1, 1, 0, 1, 1]]).bool(), [None])
    assert holes.compacted().layers[0][0].flatten().tolist() == [1.0, 2.0, 4.0, 5.0]
