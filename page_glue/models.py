"""Page glue shared by every page: the sidebar model picker and the per-process model cache.

Models are loaded once per process with ``st.cache_resource`` and shared by every browser session; the
engine serialises forward passes with the LoadedModel's lock.
"""

from __future__ import annotations

import gc

import streamlit as st

from model_zoo import LoadedModel, ModelEntry, ModelLoadError, default_entry, load_catalog, load_model, resolve
from model_zoo.device import use_threads_beside_a_server
from model_zoo.gguf_cache import needs_conversion
from model_zoo.kinds import CAUSAL_LM

MODEL_KEY = "model_id"
OTHER = "Other: a hub id or a local folder…"


def _freeze_long_lived() -> None:
    """Moves every object alive now (torch, transformers, the loaded models) out of the garbage collector's reach.

    A full collection walks ~460k objects once a model is loaded and holds the GIL for ~0.4 s; the script
    reruns of every session allocate enough to trigger one every few seconds, each pausing the decode
    threads. Frozen, those long-lived objects are skipped."""
    gc.freeze()


def _unfreeze(_model: LoadedModel) -> None:
    """A model leaving the cache becomes collectable again (the next load freezes what is still alive)."""
    gc.unfreeze()


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_unfreeze)
def cached_model(model_id: str, _progress=None) -> LoadedModel:
    """One LoadedModel per id per process (the progress callback is not part of the cache key)."""
    use_threads_beside_a_server()
    model = load_model(model_id, progress=_progress)
    _freeze_long_lived()
    return model


def get_model(model_id: str) -> LoadedModel | None:
    """The loaded model, with a progress bar on a first load; None (and a shown error) when it cannot load."""
    try:
        entry = resolve(model_id)
    except ModelLoadError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    slow = needs_conversion(entry) or entry.needs_download
    try:
        if not slow:
            with st.spinner(f"Loading {entry.id}…"):
                return cached_model(entry.id)
        with st.status(f"Loading {entry.id}…", expanded=True) as status:
            bar = st.progress(0.0)
            model = cached_model(
                entry.id, lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), message)
            )
            status.update(label=f"Loaded {entry.id}", state="complete", expanded=False)
            return model
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
    entries = [e for e in _entry_options() if kind is None or e.kind == kind]
    if not entries:
        return None
    by_label = {e.label: e for e in entries}
    labels = [*by_label, OTHER]
    current = st.session_state.get(MODEL_KEY) or default_entry(entries).id
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
