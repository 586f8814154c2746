"""Running a trace in the background of one browser session, so the page can draw it as it grows and stop it.

The decode runs in a thread of its own (one per run) and writes only into its `TraceRun`; the script reads
that object from st.session_state and never the other way round, so each session sees its own run. The
thread never touches Streamlit. Forward passes are serialised per model by the engine (``loaded.lock``),
so two sessions tracing on the shared model interleave their steps and each still gets its own trace.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings, Moment, Trace


@dataclass(eq=False)
class TraceRun:
    """One decode in progress or finished: its moments so far, then its trace (or the error that ended it)."""

    prompt: str
    settings: DecodingSettings
    model_id: str
    moments: list[Moment] = field(default_factory=list)
    trace: Trace | None = None
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.trace is not None or self.error is not None

    def stop(self) -> None:
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the decode ends (or the timeout passes); True when it ended."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.done

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def seconds_left(self) -> float | None:
        """How long the decode will still take at its pace so far, if it runs to max_new_tokens; None before
        its first moment."""
        count = len(self.moments)
        if count == 0:
            return None
        return (self.settings.max_new_tokens - count) * self.seconds / count

    def wait_if_ending(self, within: float) -> bool:
        """Waits for the decode's end when it is due within ``within`` seconds (a page polling every
        ``within`` seconds then shows the trace at once, not up to one poll later); True when it ended."""
        left = self.seconds_left()
        if not self.done and left is not None and left < within:
            self.wait(within)
        return self.done


def _decode(run: TraceRun, loaded) -> None:
    try:
        run.trace = trace_generation(
            loaded,
            run.prompt,
            run.settings,
            on_moment=run.moments.append,
            should_stop=run.stop_event.is_set,
        )
    except ValueError as exc:  # bad settings, an empty prompt, a prompt too long for the model
        run.error = str(exc)
    except Exception as exc:  # a failing model must end the run visibly, not leave it hanging
        run.error = f"The model failed while tracing ({type(exc).__name__}): {exc}"
    finally:
        run.finished = time.perf_counter()


def start_run(loaded, prompt: str, settings: DecodingSettings) -> TraceRun:
    """Starts decoding ``prompt`` with ``settings`` in a daemon thread and returns its `TraceRun` at once."""
    run = TraceRun(prompt=prompt, settings=settings, model_id=loaded.id)
    run.thread = threading.Thread(target=_decode, args=(run, loaded), name=f"trace-{run.key[:8]}", daemon=True)
    run.thread.start()
    return run
