"""Drawing fine-tune jobs: the table of every job, one job's progress, and base vs tuned on held-out data."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from jobs.store import Job
from model_zoo.kinds import ENCODER

CLASSIFY_PAGE = "pages/classify.py"

STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/play_circle:",
    "stopping": ":material/pause_circle:",
    "succeeded": ":material/check_circle:",
    "failed": ":material/error:",
    "stopped": ":material/stop_circle:",
}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return (
        f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600} h {seconds % 3600 // 60} min"
    )


def job_rows(jobs: list[Job]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "job": j.id,
                "name": j.name,
                "status": j.status,
                "model": j.config.get("model") or " vs ".join(j.config.get("models", [])),
                "step": f"{j.step}/{j.total_steps}" if j.total_steps else "",
                "elapsed": _duration(j.elapsed_seconds),
                "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at)),
                "adapter": j.adapter_id or "",
            }
            for j in jobs
        ]
    )


def job_table(jobs: list[Job]) -> None:
    if not jobs:
        st.info("No fine-tune jobs yet. Launch one above.", icon=":material/info:")
        return
    st.dataframe(job_rows(jobs), hide_index=True, width="stretch")


def job_progress(job: Job) -> None:
    """Status line, progress bar with ETA, and the error with its log tail for a failed job."""
    phase = f" · {job.phase}" if job.phase else ""
    st.markdown(f"{STATUS_ICONS.get(job.status, '')} **Job {job.id} · {job.name}** · {job.status}{phase}")
    if job.total_steps:
        eta = job.eta_seconds
        text = f"step {job.step} of {job.total_steps}"
        if job.train_seconds and job.step:
            text += f" · {job.tokens / job.train_seconds:,.0f} tokens/s"
        if eta is not None:
            text += f" · about {_duration(eta)} left"
        st.progress(job.progress, text=text)
    if job.status == "failed" and job.error:
        st.error("The job failed.", icon=":material/error:")
        st.code(job.error, language="text")
    elif job.status == "stopped":
        st.warning(job.error or "Stopped.", icon=":material/stop_circle:")
    elif job.status == "succeeded" and job.adapter_id and job.config.get("task") == ENCODER.finetune_task:
        st.success(f"Classifier saved as **{job.adapter_id}**.", icon=":material/check_circle:")
        st.page_link(CLASSIFY_PAGE, label="Open it on the Classify page, beside its base", icon=":material/label:",
                     query_params={"model": job.adapter_id})  # fmt: skip
    elif job.status == "succeeded" and job.adapter_id:
        st.success(
            f"Adapter saved as **{job.adapter_id}**: pick it on the Trace page to watch the tuned model decode.",
            icon=":material/check_circle:",
        )


def evaluation_table(evaluations: dict[str, dict]) -> None:
    """Base vs tuned on the held-out split: loss, and exact match or accuracy where the task has one."""
    if not evaluations:
        return
    rows = []
    for model in ("base", "tuned"):
        metrics = evaluations.get(model)
        if not metrics:
            continue
        row = {"model": model, "examples": metrics.get("n"), "loss": metrics.get("loss")}
        for key, label in (("exact_match", "exact match of the final answer"), ("accuracy", "accuracy")):
            if key in metrics:
                row[label] = f"{metrics[key]:.0%}"
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
