"""The trace page's current trace and its caches: expensive views of one moment, computed on request and kept
per process.

Every cache is keyed by the trace's key (a fresh id per run, the file's hash per upload, the lesson's id), the
moment and the view's own settings; the model and the trace themselves are passed unhashed (leading
underscore). So a view cached before the trace was spilled to disk is found again after it was read back.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import numpy as np
import streamlit as st

from components.bertviz_view import BertvizPage, bertviz_page
from page_glue.session_memory import hold
from page_glue.trace_store import TRACE_CODEC
from tracing.core.trace import Trace, load_trace
from tracing.export.html import render_html
from tracing.inspection.attention import prefix_attention, prefix_tokens
from tracing.inspection.attribution import Attribution, AttributionSettings, attribute_moment
from tracing.inspection.logit_lens import LogitLens, logit_lens
from tracing.lessons.lesson import Note


class CurrentTrace:
    """The trace a session is looking at, the key its cached views are filed under, and a short label saying
    where it came from. The trace itself is kept in the process's trace store, within the session's memory
    budget: `trace` reads it back from disk if it was spilled."""

    def __init__(self, trace: Trace, key: str, name: str) -> None:
        self.key = key
        self.name = name
        self.held = hold(trace, TRACE_CODEC)

    @property
    def trace(self) -> Trace:
        return self.held.get()


def trace_to_bytes(trace: Trace) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    os.close(fd)
    try:
        trace.save(path)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)


def trace_from_bytes(data: bytes, name: str) -> CurrentTrace:
    """Loads an uploaded trace file; raises ValueError when it is not one."""
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        trace = load_trace(path)
    finally:
        os.unlink(path)
    return CurrentTrace(trace, "file-" + hashlib.sha256(data).hexdigest()[:24], name)


@st.cache_data(max_entries=4, show_spinner=False)
def trace_file_bytes(trace_key: str, _trace: Trace) -> bytes:
    return trace_to_bytes(_trace)


@st.cache_resource(max_entries=2, show_spinner=False)
def attention_squares(trace_key: str, moment: int, _loaded, _trace: Trace) -> np.ndarray:
    """``[layers, heads, n, n]`` over the moment's prefix: one forward pass, kept for the last two asked."""
    return prefix_attention(_loaded, _trace, moment)


@st.cache_data(max_entries=24, show_spinner=False)
def bertviz_for(trace_key: str, moment: int, view: str, layers: tuple[int, ...], _loaded, _trace: Trace) -> BertvizPage:
    squares = attention_squares(trace_key, moment, _loaded, _trace)
    return bertviz_page(view, squares, prefix_tokens(_trace, moment), list(layers))


@st.cache_data(max_entries=64, show_spinner=False)
def lens_for(trace_key: str, moment: int, top_k: int, _loaded, _trace: Trace) -> LogitLens:
    return logit_lens(_loaded, _trace, moment, top_k)


@st.cache_data(max_entries=4, show_spinner=False)
def trace_html(trace_key: str, _trace: Trace, title: str | None = None, notes: tuple[Note, ...] = ()) -> str:
    return render_html(_trace, title, notes)


@st.cache_data(max_entries=64, show_spinner=False)
def attribution_for(
    trace_key: str, moment: int, method: str, contrast_id: int | None, n_steps: int, _loaded, _trace: Trace
) -> Attribution:
    settings = AttributionSettings(n_steps=n_steps)
    return attribute_moment(_loaded, _trace, moment, method=method, contrast_id=contrast_id, settings=settings)
