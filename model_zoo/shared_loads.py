"""Models loaded once per process and shared: one load job per model id, whoever asks first starts it.

A web server's sessions, a notebook's cells and a test all ask `SharedModels.request(model_id)`. The first
request starts the load in a thread of its own; every request made while it runs gets the same `LoadJob`, reads
the same progress (fraction and message) and, once it ends, the same `LoadedModel` or the same readable
`ModelLoadError`. A failed load is forgotten at once, so a later request tries again. Finished models are kept,
the most recently asked for last, up to ``keep`` of them.

Nothing here draws: a page shows a job's progress from its own script run (`page_glue.models`), so no cached
function records an element that later runs would replay into blocks they do not have.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from model_zoo.errors import ModelLoadError

Loader = Callable[..., object]  # (model_id, progress=...) -> LoadedModel


@dataclass
class LoadJob:
    """One model's load, shared by everyone who asked for it while it ran."""

    model_id: str
    fraction: float = 0.0
    message: str = "Waiting to load…"
    model: object | None = None
    error: ModelLoadError | None = None
    started: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def report(self, fraction: float, message: str) -> None:
        """The loader's progress callback: the latest fraction (0-1, never going back) and message."""
        self.fraction = max(self.fraction, min(max(float(fraction), 0.0), 1.0))
        self.message = message

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits at most ``timeout`` seconds (None: until it ends); whether the load has ended."""
        return self.finished.wait(timeout)

    def result(self):
        """The loaded model once the job ended; raises its ModelLoadError when it failed."""
        self.wait()
        if self.error is not None:
            raise self.error
        return self.model


class SharedModels:
    """The process's loaded models and the loads in flight, keyed by model id."""

    def __init__(
        self,
        load: Loader,
        keep: int = 4,
        before_load: Callable[[], None] | None = None,
        after_load: Callable[[object], None] | None = None,
        released: Callable[[object], None] | None = None,
    ) -> None:
        self._load = load
        self._keep = keep
        self._before_load = before_load or (lambda: None)
        self._after_load = after_load or (lambda model: None)
        self._released = released or (lambda model: None)
        self._lock = threading.Lock()
        self._loading: dict[str, LoadJob] = {}
        self._loaded: OrderedDict[str, LoadJob] = OrderedDict()

    def request(self, model_id: str) -> LoadJob:
        """The job for ``model_id``: its finished load, the load in flight, or a load started now."""
        with self._lock:
            if model_id in self._loaded:
                self._loaded.move_to_end(model_id)
                return self._loaded[model_id]
            job = self._loading.get(model_id)
            if job is None:
                job = self._loading[model_id] = LoadJob(model_id)
                threading.Thread(target=self._run, args=(job,), name=f"load-{model_id[:32]}", daemon=True).start()
            return job

    def get(self, model_id: str):
        """The loaded model, loading it first (blocking) if needed; raises ModelLoadError when it cannot load."""
        return self.request(model_id).result()

    def loading(self) -> list[str]:
        """The ids whose load is in flight now."""
        with self._lock:
            return list(self._loading)

    def loaded(self) -> list[str]:
        """The ids kept loaded, least recently asked for first."""
        with self._lock:
            return list(self._loaded)

    def clear(self) -> None:
        """Forgets every finished model (loads in flight finish and are kept)."""
        with self._lock:
            dropped = list(self._loaded.values())
            self._loaded.clear()
        for job in dropped:
            self._released(job.model)

    def _run(self, job: LoadJob) -> None:
        try:
            self._before_load()
            job.model = self._load(job.model_id, progress=job.report)
            self._after_load(job.model)
        except ModelLoadError as exc:
            job.error = exc
        except Exception as exc:  # a loader bug still reaches every waiting session as one message
            job.error = ModelLoadError(f"Could not load '{job.model_id}' ({type(exc).__name__}): {exc}")
        dropped = []
        with self._lock:
            del self._loading[job.model_id]
            if job.error is None:
                self._loaded[job.model_id] = job
                while len(self._loaded) > self._keep:
                    dropped.append(self._loaded.popitem(last=False)[1])
        job.finished.set()
        for old in dropped:
            self._released(old.model)
