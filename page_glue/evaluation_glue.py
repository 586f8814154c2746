"""What the Evaluate page wires to the engine: the job store, an uploaded questions file kept on disk for the
job process, a finished job's results (read once per file version), and opening a question on the Trace page.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from finetune.jobs import JobStore, default_store_path
from model_zoo.paths import data_dir
from page_glue.evaluation_link import link_parameters
from tracing.experiments.evaluation import Evaluation, load_evaluation
from tracing.experiments.evaluation_job import results_path

TRACE_PAGE = "pages/trace.py"


@st.cache_resource
def _store(path: str) -> JobStore:
    return JobStore(path)


def job_store() -> JobStore:
    """The store of the current data home (keyed by path, so a moved MOMENTSCOPE_HOME gets its own)."""
    return _store(str(default_store_path()))


def saved_questions(raw: bytes, name: str) -> Path:
    """The uploaded bytes on disk (the job process reads the file), named by content."""
    path = data_dir("uploads") / f"{hashlib.sha256(raw).hexdigest()[:12]}-{Path(name).name}"
    if not path.exists():
        path.write_bytes(raw)
    return path


@st.cache_data(max_entries=8, show_spinner=False)
def _evaluation(path: str, _version: float) -> Evaluation:
    return load_evaluation(path)


def job_results(job_id: int) -> Evaluation | None:
    """A finished job's evaluation, or None when it left no results file (or an unreadable one)."""
    path = results_path(job_id)
    try:
        return _evaluation(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return None


def open_on_trace(job_id: int, run: int, question: int) -> None:
    """Switches to the Trace page with the link that opens this question's trace at its departure moment."""
    st.switch_page(TRACE_PAGE, query_params=link_parameters(job_id, run, question))
