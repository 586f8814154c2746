"""Page glue shared by every page: the sidebar model picker and the process's shared models.

Models are loaded once per process (`model_zoo.shared_loads.SharedModels`) and shared by every browser session;
the engine serialises forward passes with the LoadedModel's lock. A session that needs a model while it loads,
whether it started the load or another session did, shows the load's progress in its own page and then uses
the one loaded model. Nothing here is a cached function that draws: Streamlit would replay such an element into
blocks that later runs and fragments do not have.
"""

from __future__ import annotations

import gc
import time

import streamlit as st

from model_zoo import LoadedModel, ModelEntry, ModelLoadError, default_entry, load_catalog, load_model, resolve
from model_zoo.device import use_threads_beside_a_server
from model_zoo.gguf_cache import needs_conversion
from model_zoo.kinds import CAUSAL_LM
from model_zoo.shared_loads import LoadJob, SharedModels

MODEL_KEY = "model_id"
OTHER = "Other: a hub id or a local folder…"
KEPT_MODELS = 4
POLL_SECONDS = 0.25  # how often a waiting page redraws the shared progress


def _freeze_long_lived(_model: LoadedModel) -> None:
    """Moves every object alive now (torch, transformers, the loaded models) out of the garbage collector's reach.

    A full collection walks ~460k objects once a model is loaded and holds the GIL for ~0.4 s; the script
    reruns of every session allocate enough to trigger one every few seconds, each pausing the decode
    threads. Frozen, those long-lived objects are skipped."""
    gc.freeze()


def _unfreeze(_model: LoadedModel) -> None:
    """A model leaving the process's models becomes collectable again (the next load freezes what is alive)."""
    gc.unfreeze()


MODELS = SharedModels(
    lambda model_id, progress: load_model(model_id, progress=progress),
    keep=KEPT_MODELS,
    before_load=use_threads_beside_a_server,
    after_load=_freeze_long_lived,
    released=_unfreeze,
)


def _progress_text(job: LoadJob) -> str:
    """The load's latest message and how long it has run (a conversion reports no steps for ~20 s)."""
    return f"{job.message} ({time.monotonic() - job.started:.0f} s)"


def wait_showing_progress(job: LoadJob, slow: bool) -> None:
    """Blocks this script run until ``job`` ends, drawing the shared progress in this session's own page."""
    if job.wait(0.05 if slow else 0.5):
        return
    if not slow and job.fraction < 0.05:  # a quick load from disk: a spinner says enough
        with st.spinner(f"Loading {job.model_id}…"):
            job.wait()
        return
    with st.status(f"Loading {job.model_id}…", expanded=True) as status:
        bar = st.progress(job.fraction, _progress_text(job))
        while not job.wait(POLL_SECONDS):
            bar.progress(job.fraction, _progress_text(job))
        if job.error is None:
            status.update(label=f"Loaded {job.model_id}", state="complete", expanded=False)
        else:
            status.update(label=f"Could not load {job.model_id}", state="error", expanded=False)


def get_model(model_id: str) -> LoadedModel | None:
    """The loaded model, shared by the process; while it loads (started here or by another session) its progress
    is shown; None (and a shown error) when it cannot load. A failed load is tried again on the next request."""
    try:
        entry = resolve(model_id)
        job = MODELS.request(entry.id)
        if not job.done:  # a loaded model (every panel asks) needs no look at the data home
            wait_showing_progress(job, slow=needs_conversion(entry) or entry.needs_download)
        return job.result()
    except ModelLoadError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def _entry_options() -> list[ModelEntry]:
    try:
        return load_catalog()
    except (OSError, ValueError) as exc:
        st.sidebar.error(f"The model catalog could not be read: {exc}")
        return []


def model_picker(kind: str | None = CAUSAL_LM.name) -> str | None:
    """Sidebar picker over the zoo (filtered by kind) plus a free-text hub id or folder. Returns the chosen id."""
    catalog = _entry_options()
    entries = [e for e in catalog if kind is None or e.kind == kind]
    if not entries:
        return None
    by_label = {e.label: e for e in entries}
    labels = [*by_label, OTHER]
    current = st.session_state.get(MODEL_KEY) or default_entry(entries).id
    if any(e.id == current and e.kind != kind for e in catalog) and kind is not None:
        current = default_entry(entries).id  # a model of another kind (the Trace page's decoder on an encoder task)
    known = next((label for label, e in by_label.items() if e.id == current), None)
    with st.sidebar:
        st.subheader("Model", anchor=False)
        label = st.selectbox(
            "Model",
            labels,
            index=labels.index(known) if known else len(labels) - 1,
            label_visibility="collapsed",
            key="model_picker",
        )
        if label == OTHER:
            typed = st.text_input(
                "Hub id or folder",
                value="" if known else current,
                placeholder="e.g. Qwen/Qwen2.5-0.5B-Instruct or ./my-model",
            )
            chosen = typed.strip() or None
        else:
            chosen = by_label[label].id
            st.caption(by_label[label].description)
    if chosen:
        st.session_state[MODEL_KEY] = chosen
    return chosen
