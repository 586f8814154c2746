"""The background run's end-of-run wait: a poll that falls just before the end shows the trace at once."""

from __future__ import annotations

import threading
import time

from page_glue.trace_run import TraceRun
from tracing.core.trace import DecodingSettings


def paced_run(count: int, step_seconds: float, total: int) -> TraceRun:
    """A run that has made ``count`` of ``total`` moments at ``step_seconds`` each and ends when the rest
    would have been made."""
    run = TraceRun(prompt="p", settings=DecodingSettings(max_new_tokens=total), model_id="m")
    run.started = time.perf_counter() - count * step_seconds
    run.moments.extend(range(count))
    left = (total - count) * step_seconds

    def finish() -> None:
        time.sleep(left)
        run.error = "ended"

    run.thread = threading.Thread(target=finish, daemon=True)
    run.thread.start()
    return run


def test_a_run_due_before_the_next_poll_is_waited_for():
    run = paced_run(count=9, step_seconds=0.02, total=10)
    assert run.seconds_left() < 0.3
    started = time.perf_counter()
    assert run.wait_if_ending(0.3)
    assert time.perf_counter() - started < 0.3


def test_a_run_far_from_its_end_is_not_waited_for():
    run = paced_run(count=2, step_seconds=0.2, total=20)
    started = time.perf_counter()
    assert not run.wait_if_ending(0.3)
    assert time.perf_counter() - started < 0.05
    run.stop()


def test_no_estimate_before_the_first_moment():
    run = TraceRun(prompt="p", settings=DecodingSettings(max_new_tokens=8), model_id="m")
    assert run.seconds_left() is None
    assert not run.wait_if_ending(0.3)
