"""Compare runs on the Fine-tune page: the loss, validation loss and probe curves of chosen jobs overlaid,
with the settings in which they differ."""

from __future__ import annotations

import streamlit as st

from components.runs_overlay import overlay_figure, settings_difference
from finetune.training_store import TrainingJobStore
from jobs.store import Job


def mean_probe_curve(readings: list[dict]) -> list[tuple[int, float]]:
    """The mean probability of the reference tokens over every probe and moment, per checkpoint step."""
    by_step: dict[int, list[float]] = {}
    for row in readings:
        by_step.setdefault(row["step"], []).append(row["prob"])
    return [(step, sum(values) / len(values)) for step, values in sorted(by_step.items())]


def compare_runs(store: TrainingJobStore, jobs: list[Job]) -> None:
    labels = {j.id: f"job {j.id} · {j.name}" for j in jobs}
    chosen = st.multiselect("Jobs to compare", list(labels), format_func=labels.get, key="ft_compare")
    if len(chosen) < 2:
        st.caption("Pick two jobs or more to overlay their curves.")
        return
    by_id = {j.id: j for j in jobs}
    metrics = {labels[i]: store.metrics(i) for i in chosen}
    left, right = st.columns(2)
    left.plotly_chart(
        overlay_figure({k: m.get("loss", []) for k, m in metrics.items()}, y_title="loss", title="Training loss"),
        key="ft_compare_loss",
        width="stretch",
    )
    probes = {labels[i]: mean_probe_curve(store.probe_readings(i)) for i in chosen}
    if any(probes.values()):
        right.plotly_chart(
            overlay_figure(probes, y_title="mean p(reference token)", title="Probes: mean probability of the answer"),
            key="ft_compare_probes",
            width="stretch",
        )
    validation = {k: m.get("val_loss", []) for k, m in metrics.items()}
    if any(validation.values()):
        st.plotly_chart(
            overlay_figure(validation, y_title="loss", title="Validation loss"), key="ft_compare_val", width="stretch"
        )
    table = settings_difference({labels[i]: by_id[i].config for i in chosen})
    if table.empty:
        st.caption("These jobs were launched with the same settings.")
    else:
        st.dataframe(table, hide_index=True, width="stretch")
