"""A probe's trace at a checkpoint, opened on the Trace page from a link on the Fine-tune page
(``?probe=<job>:<step>:<probe>``): the teacher-forced reference answer as the model read it at that step."""

from __future__ import annotations

import re

import streamlit as st

from finetune.probes import saved_probe_trace
from jobs.store import JobStore
from page_glue.trace_cache import CurrentTrace

QUERY = "probe"
VALUE = re.compile(r"^(\d+):(\d+):(\d+)$")
TRACE_PAGE = "pages/trace.py"


def probe_query(job_id: int, step: int, probe: int) -> dict[str, str]:
    return {QUERY: f"{job_id}:{step}:{probe}"}


def linked_probe() -> CurrentTrace | None:
    """The probe trace the page's link names, once (the link is then dropped from the address); a bad or
    unknown link is named in an error."""
    value = st.query_params.get(QUERY)
    if not value:
        return None
    del st.query_params[QUERY]
    match = VALUE.match(value)
    job = JobStore().get(int(match[1])) if match else None
    if job is None or not job.config.get("checkpoint_dir"):
        st.error(f"The link names no probe of a known fine-tune job ({value!r}).", icon=":material/error:")
        return None
    step, probe = int(match[2]), int(match[3])
    try:
        trace = saved_probe_trace(job.config["checkpoint_dir"], step, probe)
    except ValueError as exc:
        st.error(f"The probe's trace cannot be opened: {exc}.", icon=":material/error:")
        return None
    return CurrentTrace(trace, f"probe-{job.id}-{step}-{probe}", f"probe {probe + 1} of job {job.id} at step {step}")
