"""An evaluated question opened on the Trace page: the link ``?evaluation=<job>&model=<n>&question=<i>`` shows
that question's greedy trace from the job's folder at the moment it left its reference solution (the
departure), else at its first moment. Like a lesson's link, it opens once per session and survives a reload.
"""

from __future__ import annotations

import streamlit as st

from page_glue.trace_cache import CurrentTrace
from tracing.core.trace import load_trace
from tracing.experiments.evaluation import Evaluation, load_evaluation
from tracing.experiments.evaluation_job import results_path

QUERY = "evaluation"
OPENED = "evaluation_opened"  # (the link's parameters, the error it gave or None)


def link_parameters(job_id: int, run: int, question: int) -> dict[str, str]:
    return {QUERY: str(job_id), "model": str(run), "question": str(question)}


def opening_moment(evaluation: Evaluation, run: int, question: int) -> int:
    result = evaluation.runs[run].results[question]
    return 0 if result.departure is None else min(result.departure.moment, max(result.tokens - 1, 0))


def _open(job_id: int, run: int, question: int) -> tuple[CurrentTrace, int]:
    path = results_path(job_id)
    evaluation = load_evaluation(path)
    if not 0 <= run < len(evaluation.runs) or not 0 <= question < len(evaluation.questions):
        raise ValueError(f"evaluation {job_id} has no model {run} or question {question}.")
    result = evaluation.runs[run].results[question]
    if result.trace_file is None:
        raise ValueError(f"evaluation {job_id} kept no trace of question {question}.")
    trace = load_trace(path.parent / "traces" / result.trace_file)
    name = f"evaluation {job_id}, question {question} ({evaluation.runs[run].name})"
    current = CurrentTrace(trace, f"evaluation-{job_id}-{run}-{question}", name)
    return current, opening_moment(evaluation, run, question)


def linked_evaluation() -> tuple[CurrentTrace, int] | None:
    """The trace and moment the page's link names, the first time this session sees the link; a bad link is
    named in an error while it stays."""
    if QUERY not in st.query_params:
        st.session_state.pop(OPENED, None)
        return None
    wanted = tuple(st.query_params.get(k, "") for k in (QUERY, "model", "question"))
    opened = st.session_state.get(OPENED)
    if opened is not None and opened[0] == wanted:
        if opened[1]:
            st.error(opened[1], icon=":material/error:")
        return None
    try:
        job_id, run, question = (int(v) for v in wanted)
        found = _open(job_id, run, question)
    except ValueError as exc:
        st.session_state[OPENED] = (wanted, f"The link's evaluated question cannot be opened. {exc}")
        st.error(st.session_state[OPENED][1], icon=":material/error:")
        return None
    st.session_state[OPENED] = (wanted, None)
    return found


def leave_evaluation_link(current: CurrentTrace) -> None:
    """Drops the link from the address once another trace is shown (a run, an upload)."""
    wanted = tuple(st.query_params.get(k, "") for k in (QUERY, "model", "question"))
    if QUERY in st.query_params and current.key != "evaluation-{}-{}-{}".format(*wanted):
        for key in (QUERY, "model", "question"):
            st.query_params.pop(key, None)
