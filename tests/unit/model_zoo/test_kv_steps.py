"""The KV-cache step loop's per-forward context: entered inside the lock around each forward with the
absolute position of that forward's first token, and absent otherwise."""

from __future__ import annotations

import contextlib
import threading

import torch

from model_zoo.seam import KVCacheSteps


def test_around_wraps_each_forward_with_its_first_position(smollm):
    seen = []

    @contextlib.contextmanager
    def around(first: int):
        free = []
        other = threading.Thread(target=lambda: free.append(smollm.lock.acquire(blocking=False)))
        other.start()
        other.join()
        assert free == [False]  # another thread cannot take the lock: the step holds it
        seen.append(first)
        yield

    steps = KVCacheSteps(smollm, attention=False, around=around)
    plain = KVCacheSteps(smollm, attention=False)
    for ids in ([1, 2, 3, 4], [5], [6]):
        torch.testing.assert_close(steps.step(ids).logits, plain.step(ids).logits, rtol=0, atol=0)
    assert seen == [0, 4, 5]
