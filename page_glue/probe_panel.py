"""The Fine-tune page's probe panel: pick a probe and one of its moments, watch that moment's probability of
the right token rise checkpoint by checkpoint, see which moments changed most, and open the probe's trace
at a checkpoint on the Trace page."""

from __future__ import annotations

import streamlit as st

from components.probe_curves import (
    answer_text,
    moment_change_figure,
    moment_labels,
    moment_rise_figure,
    most_changed,
    probe_moments,
)
from finetune.training_store import TrainingJobStore
from jobs.store import Job
from page_glue.probe_link import TRACE_PAGE, probe_query


def probe_panel(store: TrainingJobStore, job: Job) -> None:
    readings = store.probe_readings(job.id)
    if not readings:
        st.caption("Probe readings appear at the first checkpoint (held-out questions, read at every checkpoint).")
        return
    probes = sorted({r["probe"] for r in readings})
    answers = {p: answer_text(probe_moments(readings, p))[:60] for p in probes}
    cols = st.columns(2)
    probe = cols[0].selectbox(
        "Probe",
        probes,
        format_func=lambda p: f"probe {p + 1}: {answers.get(p) or ''}",
        key=f"ft_probe_{job.id}",
    )
    moments = probe_moments(readings, probe)
    labels = moment_labels(moments)
    changed = most_changed(moments)
    latest = max(r["step"] for r in readings)  # in the keys: a new checkpoint shows its own most changed
    moment = cols[1].selectbox(
        "Moment (most changed first)",
        changed + [m for m in moments if m not in changed],
        format_func=lambda m: f"moment {m}: {labels[m]}",
        key=f"ft_probe_moment_{job.id}_{probe}_{latest}",
    )
    rows = moments[moment]
    title = f"Moment {moment} ({labels[moment]}): p {rows[0]['prob']:.2f} → {rows[-1]['prob']:.2f}"
    left, right = st.columns(2)
    left.plotly_chart(moment_rise_figure(rows, title), key=f"ft_probe_rise_{job.id}", width="stretch")
    right.plotly_chart(moment_change_figure(moments), key=f"ft_probe_change_{job.id}", width="stretch")
    steps = [r["step"] for r in rows]
    step = steps[-1]
    if len(steps) > 1:
        step = st.select_slider("Checkpoint", steps, value=steps[-1], key=f"ft_probe_step_{job.id}_{latest}")
    st.page_link(
        TRACE_PAGE,
        label=f"Open probe {probe + 1} at step {step} on the Trace page",
        icon=":material/open_in_new:",
        query_params=probe_query(job.id, step, probe),
    )
