"""Several decodes at once: each runs in a thread of its own and the model's scheduler
(`model_zoo.step_scheduler`) batches their steps, so N traces cost far less than N traces one after another.
Every trace equals the one `trace_generation` makes alone (to float rounding)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from model_zoo.step_scheduler import MAX_ROWS
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings, Trace


def trace_all(
    loaded,
    requests: Sequence[tuple[str, DecodingSettings]],
    should_stop: Callable[[], bool] | None = None,
    on_trace: Callable[[int, Trace], None] | None = None,
    at_once: int = MAX_ROWS,
    attention: bool = True,
) -> list[Trace]:
    """The trace of every ``(prompt, settings)``, in order, decoded ``at_once`` at a time.

    ``on_trace(index, trace)`` sees each trace as soon as it is done; ``should_stop`` ends every decode
    early (each trace then ends with stop_reason "stopped"). The first error any decode raised (a bad
    prompt, bad settings) is raised once all have ended. Without ``attention`` no attention rows are kept.
    """
    if not requests:
        return []

    def one(index: int) -> Trace:
        prompt, settings = requests[index]
        trace = trace_generation(loaded, prompt, settings, should_stop=should_stop, attention=attention)
        if on_trace is not None:
            on_trace(index, trace)
        return trace

    with ThreadPoolExecutor(max_workers=max(1, min(at_once, len(requests))), thread_name_prefix="trace") as pool:
        futures = [pool.submit(one, i) for i in range(len(requests))]
    return [future.result() for future in futures]
