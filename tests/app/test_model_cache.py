"""The pages' shared models keep the garbage collector off the loaded model, and never draw from a cached function.

A full collection over a process holding torch, transformers and a model walks ~460k objects and holds the
GIL for a large part of a second, pausing every decode thread; a load freezes what is alive after it.
"""

from __future__ import annotations

import gc
import time

from page_glue.models import MODELS
from tests.app.conftest import app_test
from tests.app.test_trace_page import PROMPT, run_until_done, start_run
from tests.conftest import OFFLINE_CHAT_MODEL


def test_a_loaded_model_is_out_of_the_collectors_walk():
    gc.unfreeze()
    gc.collect()
    MODELS.clear()
    walked_before = len(gc.get_objects())
    assert walked_before > 100_000  # torch and transformers are imported: the walk is long unless frozen

    model = MODELS.get(OFFLINE_CHAT_MODEL)

    assert gc.get_freeze_count() > walked_before
    assert len(gc.get_objects()) < 50_000
    assert all(p is not None for p in [model.model, model.tokenizer])


def test_a_first_load_that_shows_progress_breaks_no_later_session(monkeypatch):
    """A first load that drew its progress from a cached function made every later session's Run, and the first
    session's bertviz fragment, fail with CacheReplayClosureError (the element was replayed into a block those runs
    do not have). Here the first load takes the slow path, as a GGUF conversion or a download does."""
    import page_glue.models as models

    MODELS.clear()
    real = models.load_model

    def slow_first_load(model_id, progress=None, **kwargs):
        for step in range(3):
            progress(step / 4, f"converting, part {step + 1} of 3")
            time.sleep(0.2)
        return real(model_id, progress=progress, **kwargs)

    monkeypatch.setattr(models, "needs_conversion", lambda entry: True)
    monkeypatch.setattr(models, "load_model", slow_first_load)
    first = start_run(app_test("pages/trace.py").run(), PROMPT, 3)
    assert not first.exception, first.exception
    assert [s.label for s in first.status] == [f"Loaded {OFFLINE_CHAT_MODEL}"]
    run_until_done(first)

    second = start_run(app_test("pages/trace.py").run(), PROMPT, 3)  # another browser session
    assert not second.exception, second.exception
    run_until_done(second)
    for at in (second, first):
        at.toggle(key="trace_att_bertviz").set_value(True).run()
        assert not at.exception, at.exception
        assert at.session_state["trace_current"].trace.moments
