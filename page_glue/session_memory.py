"""This server process's trace store, and the handles through which each browser session keeps its traces.

A page keeps a trace (or a result made of traces: a branch tree, a comparison, a consistency run) in
st.session_state as a `Held` handle, never the value itself, so the one process-wide `TraceStore` holds at
most the session budget of each session's values in memory and spills the rest to ``<data home>/spill/``
(page_glue/trace_store.py). Its settings come from the environment, read in one place
(`StoreSettings.from_environment`): ``MOMENTSCOPE_SESSION_MB`` (default 64) and ``MOMENTSCOPE_IDLE_MINUTES``
(default 10), 0 turning either off. A bad value is named on the pages and the default used.

Nothing a callback or a fragment keeps between script runs may hold a value itself (that would keep a spilled
value in memory): pass the handle, and read the value from it when it is needed.
"""

from __future__ import annotations

import functools
import threading
from typing import TypeVar

from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from model_zoo.paths import data_dir
from page_glue.store_settings import StoreSettings
from page_glue.trace_store import Codec, Held, TraceStore
from tracing.experiments.branch_tree import BranchTree, load_branch_tree
from tracing.experiments.comparison import Comparison, load_comparison
from tracing.experiments.consistency import Consistency, load_consistency

OUTSIDE = "outside-a-session"  # handles made where no script runs (a test preparing a page's state)
BRANCH_TREE_CODEC: Codec[BranchTree] = Codec(
    "branches.zip", load_branch_tree, lambda tree: [node.trace for node in tree.nodes.values()]
)
COMPARISON_CODEC: Codec[Comparison] = Codec(
    "comparison.zip", load_comparison, lambda c: [t for t in (c.trace_a, c.trace_b, c.own_path) if t is not None]
)
CONSISTENCY_CODEC: Codec[Consistency] = Codec("consistency.zip", load_consistency, lambda c: c.paths)

T = TypeVar("T")


def _settings() -> tuple[StoreSettings, str | None]:
    try:
        return StoreSettings.from_environment(), None
    except ValueError as exc:
        return StoreSettings(), f"{exc} The defaults are used until it is fixed and the app restarted."


def _connected(session: str) -> bool:
    if session == OUTSIDE or not Runtime.exists():
        return True
    return bool(Runtime.instance().is_active_session(session))


_MAKING_STORE = threading.Lock()


@functools.cache
def _made_store() -> TraceStore:
    store = TraceStore(data_dir("spill"), _settings()[0], session_alive=_connected)
    store.start_janitor()
    return store


def process_store() -> TraceStore:
    """The one store of this process, made on first use (its janitor started). Two sessions' first traces can
    ask at the same moment: the lock makes the second wait for the first's store instead of making its own (a
    handle would then point at a store nobody else reads)."""
    with _MAKING_STORE:
        return _made_store()


def settings_problem() -> str | None:
    """What is wrong with the memory settings in the environment, if anything (for the pages to show)."""
    return _settings()[1]


def session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else OUTSIDE


def hold(value: T, codec: Codec[T]) -> Held[T]:
    """A handle on ``value`` kept for this browser session in the process's store."""
    return Held(process_store(), session_id(), value, codec)
