"""The page layer's model cache keeps the garbage collector off the loaded model.

A full collection over a process holding torch, transformers and a model walks ~460k objects and holds the
GIL for a large part of a second, pausing every decode thread; the cache freezes what is alive after a load.
"""

from __future__ import annotations

import gc

from page_glue.models import cached_model
from tests.conftest import OFFLINE_CHAT_MODEL


def test_a_loaded_model_is_out_of_the_collectors_walk():
    gc.unfreeze()
    gc.collect()
    cached_model.clear()
    walked_before = len(gc.get_objects())
    assert walked_before > 100_000  # torch and transformers are imported: the walk is long unless frozen

    model = cached_model(OFFLINE_CHAT_MODEL)

    assert gc.get_freeze_count() > walked_before
    assert len(gc.get_objects()) < 50_000
    assert all(p is not None for p in [model.model, model.tokenizer])
