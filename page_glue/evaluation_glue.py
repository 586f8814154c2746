"""What the Evaluate page wires to the engine: starting an evaluation (a fine-tune job's held-out split written
first), a finished job's results (read once per file version), and opening a question on the Trace page."""

from __future__ import annotations

import streamlit as st

from finetune.heldout import write_heldout
from jobs.store import JobStore
from page_glue.evaluation_link import link_parameters
from tracing.experiments.evaluation import Evaluation, load_evaluation
from tracing.experiments.evaluation_job import EvaluationJobConfig, launch_evaluation, results_path

TRACE_PAGE = "pages/trace.py"


def start_evaluation(config: EvaluationJobConfig, store: JobStore) -> int:
    """Launches the evaluation job; its fine-tune job's held-out split, when that is the source, is written
    to that job's folder first. Raises ValueError naming what is wrong."""
    if config.finetune_job is not None:
        job = store.get(config.finetune_job)
        if job is None:
            raise ValueError(f"no fine-tune job {config.finetune_job} in the job store")
        write_heldout(job.id, job.config)
    return launch_evaluation(config, store)


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
