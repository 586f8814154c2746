"""A process-wide store for the traces (and results made of traces) that browser sessions keep, with a memory
budget per session.

A session keeps each value under a key, with a `Codec` that measures, saves and loads it. The store holds at
most ``session_bytes`` of one session's values in memory: putting or getting a value makes room by spilling
that session's least recently used values to files in the spill folder; a janitor thread spills every value
of a session left idle for ``idle_seconds``. A spilled value is loaded back from its file when it is asked for,
equal to the value spilled (the trace file keeps float16 attention rows to the bit).

Spilling drops only the store's own reference. While something else still holds the value (the script run
drawing it), asking for it returns that same object rather than a second copy read from disk; so a value
larger than the whole budget is read once per script run, never kept.

Values are treated as immutable: a caller that changes one puts it again, and its file is rewritten at the
next spill. Files live in ``<spill folder>/<pid>-<id>/``, one folder per process, locked while it runs; a new
store removes the folders of processes that have ended, and a value's file goes when the value is discarded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from page_glue.spill_folder import hold_lock, release_freed_memory, remove_ended_folders
from page_glue.store_settings import StoreSettings
from tracing.core.trace import Trace, load_trace

GONE_SECONDS = 600.0  # a session disconnected this long is gone (Streamlit keeps one for reconnecting 2 min)

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How the store handles one type of value: ``suffix`` names its files, ``load`` reads a file its ``save``
    method wrote, and ``traces`` lists the traces inside it (their arrays are what it weighs)."""

    suffix: str
    load: Callable[[Path], T]
    traces: Callable[[T], Iterable[Trace]]

    def nbytes(self, value: T) -> int:
        return sum(trace.array_nbytes for trace in self.traces(value))

    def save(self, value: T, path: Path) -> None:
        value.save(path)


TRACE_CODEC: Codec[Trace] = Codec("trace.safetensors", load_trace, lambda trace: [trace])


@dataclass(eq=False)
class _Entry:
    codec: Codec
    nbytes: int
    value: Any | None
    path: Path | None = None  # the spill file, once written
    clean: bool = False  # the file holds the current value
    weak: weakref.ref | None = None  # the value while someone else still holds it


@dataclass(eq=False)
class _Session:
    entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)  # least recently used first
    lock: threading.RLock = field(default_factory=threading.RLock)
    used: float = 0.0
    gone_since: float | None = None


class TraceStore:
    """Values of many sessions under one memory budget each; thread-safe (sessions run on their own threads).

    ``session_alive(session)`` says whether a session is still connected (default: always); one that is not for
    ``gone_seconds`` is forgotten, values and files, by `sweep`."""

    def __init__(
        self,
        folder: str | os.PathLike,
        settings: StoreSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        session_alive: Callable[[str], bool] | None = None,
        gone_seconds: float = GONE_SECONDS,
    ) -> None:
        self.settings = settings or StoreSettings()
        self._clock = clock
        self._alive = session_alive or (lambda session: True)
        self._gone_seconds = gone_seconds
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._released: deque[tuple[str, str]] = deque()  # handles dropped, their values not discarded yet
        self._stop = threading.Event()
        self._janitor: threading.Thread | None = None
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        remove_ended_folders(root)
        self.folder = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir()
        self._lock_file = hold_lock(self.folder)

    # ---- one session's values ---------------------------------------------------------------------------

    def put(self, session: str, key: str, value: T, codec: Codec[T]) -> None:
        """Keeps ``value`` for ``session`` under ``key`` (replacing what was there), then keeps to the budget."""
        self._discard_released()
        state = self._session(session)
        with state.lock:
            old = state.entries.pop(key, None)
            entry = _Entry(codec, codec.nbytes(value), value, path=old.path if old else None)
            state.entries[key] = entry
            self._touch(state)
            self._make_room(state, session)

    def get(self, session: str, key: str) -> Any:
        """The value kept under ``key``, read back from its file if it was spilled; KeyError if none."""
        self._discard_released()
        state = self._session(session)
        with state.lock:
            entry = state.entries[key]
            if entry.value is None:
                entry.value = entry.weak() if entry.weak is not None else None
            if entry.value is None:
                entry.value = entry.codec.load(entry.path)
            value = entry.value
            state.entries.move_to_end(key)
            self._touch(state)
            self._make_room(state, session)
            return value

    def discard(self, session: str, key: str) -> None:
        """Drops a value and its file (nothing happens when there is none)."""
        with self._lock:
            state = self._sessions.get(session)
        if state is None:
            return
        with state.lock:
            entry = state.entries.pop(key, None)
        if entry is not None and entry.path is not None:
            entry.path.unlink(missing_ok=True)

    def forget(self, session: str) -> None:
        """Drops every value of a session and its files."""
        with self._lock:
            state = self._sessions.pop(session, None)
        if state is not None:
            with state.lock:
                state.entries.clear()
            shutil.rmtree(self._session_folder(session), ignore_errors=True)

    def release(self, session: str, key: str) -> None:
        """Marks a value to be discarded by the store's next call: safe from a garbage-collector finalizer, which
        may run inside any allocation, the store's own locked sections included."""
        self._released.append((session, key))

    def spill_session(self, session: str) -> int:
        """Moves every value of ``session`` held in memory to its file; returns how many bytes were released."""
        return self._over_held(session, lambda entry: self._spill(entry, session))

    def in_memory_bytes(self, session: str) -> int:
        """What the store itself holds in memory for ``session`` (the arrays of its values not spilled)."""
        return self._over_held(session, lambda entry: None)

    def is_spilled(self, session: str, key: str) -> bool:
        with self._lock:
            state = self._sessions[session]
        with state.lock:
            return state.entries[key].value is None

    def sessions(self) -> list[str]:
        self._discard_released()
        with self._lock:
            return list(self._sessions)

    # ---- the janitor ------------------------------------------------------------------------------------

    def sweep(self) -> int:
        """Spills the sessions idle for longer than the idle time and forgets those gone; returns the bytes
        released from memory."""
        now = self._clock()
        released = 0
        for session in self.sessions():
            with self._lock:
                state = self._sessions.get(session)
            if state is None:
                continue
            if self._alive(session):
                state.gone_since = None
            elif state.gone_since is None:
                state.gone_since = now
            elif now - state.gone_since > self._gone_seconds:
                released += self.in_memory_bytes(session)
                self.forget(session)
                continue
            idle = self.settings.idle_seconds
            if idle is not None and now - state.used > idle:
                released += self.spill_session(session)
        if released:
            release_freed_memory()
        return released

    def start_janitor(self, interval: float | None = None) -> None:
        """Runs `sweep` in a daemon thread every ``interval`` seconds (default: a quarter of the idle time,
        between 1 and 30 s); a second call does nothing."""
        if self._janitor is not None:
            return
        idle = self.settings.idle_seconds or 120.0
        interval = interval or min(max(idle / 4, 1.0), 30.0)

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sweep()
                except Exception:  # a failed spill (a full disk) must not end the janitor
                    log.exception("The trace store's janitor failed; it tries again in %.0f s.", interval)

        self._janitor = threading.Thread(target=loop, name="trace-store-janitor", daemon=True)
        self._janitor.start()

    def close(self) -> None:
        """Stops the janitor and removes this store's files."""
        self._stop.set()
        if self._janitor is not None:
            self._janitor.join()
        with self._lock:
            self._sessions.clear()
        if self._lock_file is not None:
            self._lock_file.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---- inside ---------------------------------------------------------------------------------------

    def _discard_released(self) -> None:
        while True:
            try:
                session, key = self._released.popleft()  # atomic: two threads never take the same one
            except IndexError:
                return
            self.discard(session, key)

    def _over_held(self, session: str, action: Callable[[_Entry], None]) -> int:
        """Runs ``action`` on each value of ``session`` held in memory, under its lock; returns their bytes."""
        self._discard_released()
        with self._lock:
            state = self._sessions.get(session)
        if state is None:
            return 0
        with state.lock:
            held = [entry for entry in state.entries.values() if entry.value is not None]
            for entry in held:
                action(entry)
            return sum(entry.nbytes for entry in held)

    def _session(self, session: str) -> _Session:
        with self._lock:
            return self._sessions.setdefault(session, _Session(used=self._clock()))

    def _touch(self, state: _Session) -> None:
        state.used = self._clock()
        state.gone_since = None

    def _make_room(self, state: _Session, session: str) -> None:
        budget = self.settings.session_bytes
        if budget is None:
            return
        held = sum(entry.nbytes for entry in state.entries.values() if entry.value is not None)
        for entry in list(state.entries.values()):  # least recently used first
            if held <= budget:
                break
            if entry.value is not None:
                self._spill(entry, session)
                held -= entry.nbytes

    def _spill(self, entry: _Entry, session: str) -> None:
        value = entry.value
        if not entry.clean:
            if entry.path is None:
                entry.path = self._session_folder(session) / f"{uuid.uuid4().hex}.{entry.codec.suffix}"
                entry.path.parent.mkdir(parents=True, exist_ok=True)
            entry.codec.save(value, entry.path)
            entry.clean = True
        try:
            entry.weak = weakref.ref(value)
        except TypeError:  # a type without weak references is read back from its file
            entry.weak = None
        entry.value = None

    def _session_folder(self, session: str) -> Path:
        return self.folder / hashlib.sha256(session.encode()).hexdigest()[:16]


class Held(Generic[T]):
    """One session's handle on a value in a `TraceStore`: `get` reads it, `update` replaces it; the value and its
    file are dropped when the handle is (a session that ends drops its handles with its state)."""

    def __init__(self, store: TraceStore, session: str, value: T, codec: Codec[T]) -> None:
        self.store = store
        self.session = session
        self.key = uuid.uuid4().hex
        self._codec = codec
        store.put(session, self.key, value, codec)
        weakref.finalize(self, store.release, session, self.key)

    def get(self) -> T:
        return self.store.get(self.session, self.key)

    def update(self, value: T) -> None:
        """Puts a changed (or another) value in place of the one held, so a later spill writes it."""
        self.store.put(self.session, self.key, value, self._codec)

    @property
    def spilled(self) -> bool:
        return self.store.is_spilled(self.session, self.key)
