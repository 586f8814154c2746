"""The logit lens's "logit / tuned" switch, and training a tuned lens for the loaded model as a job of the job
store (progress, Stop, Resume polled from the store; the finished job's report drawn).

A model's saved lens is read once per process and read again when its file changes (a job just finished).
"""

from __future__ import annotations

import streamlit as st

from components.lens_report_view import lens_report_figure
from components.plot_config import PLOT_CONFIG
from page_glue.job_files import job_store
from page_glue.trace_cache import lens_for
from tracing.core.trace import Trace
from tracing.inspection.logit_lens import LogitLens
from tracing.inspection.tuned_lens.report import LensReport

KIND_KEY = "trace_lens_kind"
POLL_SECONDS = 2.0


def lens_stamp(loaded) -> float:
    """The saved lens's modification time (0: none), so a newly trained lens is read again."""
    from tracing.inspection.tuned_lens.lens import WEIGHTS, lens_folder

    path = lens_folder(loaded) / WEIGHTS
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_resource(max_entries=4, show_spinner=False)
def saved_lens(model_name: str, stamp: float, _loaded):
    from tracing.inspection.tuned_lens.lens import find_lens

    return find_lens(_loaded)


@st.cache_data(max_entries=64, show_spinner=False)
def tuned_lens_for(trace_key: str, moment: int, top_k: int, stamp: float, _loaded, _trace: Trace) -> LogitLens:
    from tracing.inspection.logit_lens import logit_lens

    lens = saved_lens(_loaded.identity.name, stamp, _loaded)
    return logit_lens(_loaded, _trace, moment, top_k, translate=lens.translate)


def lens_reading(trace_key: str, moment: int, top_k: int, loaded, trace: Trace) -> LogitLens:
    """Draws the switch (and, for a model without a tuned lens, how to train one); returns the reading."""
    choice = st.segmented_control("Lens", ["logit", "tuned"], default="logit", key=KIND_KEY,
                                  help="tuned: each layer translated by the model's own trained lens first")  # fmt: skip
    stamp = lens_stamp(loaded)
    if choice == "tuned" and not stamp:
        st.info(f"No tuned lens is trained for `{loaded.identity.name}` yet; the logit lens is shown.")
    if choice == "tuned" or stamp:
        lens_training(loaded)
    with st.spinner("Running the lens…"):
        if choice == "tuned" and stamp:
            return tuned_lens_for(trace_key, moment, top_k, stamp, loaded, trace)
        return lens_for(trace_key, moment, top_k, loaded, trace)


def tuned_commitment_for(trace_key: str, stamp: float, loaded, trace: Trace, progress=None):
    """Kept with the interventions' results (its progress bar draws, so no Streamlit cache holds it)."""
    from page_glue.intervention_cache import remembered
    from tracing.inspection.tuned_lens.commitment import tuned_commitment

    lens = saved_lens(loaded.identity.name, stamp, loaded)
    return remembered("tuned commitment", (trace_key, stamp), lambda: tuned_commitment(loaded, trace, lens, progress))


def commitment_reading(trace_key: str, loaded, trace: Trace, progress=None):
    """The commitment map's switch; returns the map read through the chosen lens."""
    from page_glue.intervention_cache import commitment_for

    stamp = lens_stamp(loaded)
    choice = st.segmented_control("Lens", ["logit", "tuned"], default="logit", key="iv_commit_lens",
                                  disabled=not stamp, help=None if stamp else "no tuned lens is trained for this model")  # fmt: skip
    if choice == "tuned" and stamp:
        return tuned_commitment_for(trace_key, stamp, loaded, trace, progress)
    return commitment_for(trace_key, loaded, trace, progress)


def lens_jobs(model_name: str) -> list:
    from tracing.experiments.tuned_lens_job import KIND

    return [job for job in job_store().list_jobs(KIND) if job.config.get("model") == model_name]


def start_training(loaded) -> None:
    from tracing.experiments.tuned_lens_job import LensJobConfig, launch_lens_training

    state = st.session_state
    upload = state.get("lens_upload")
    text_file = ""
    if state.get("lens_source") == "text" and upload is not None:
        from page_glue.job_files import saved_upload

        text_file = str(saved_upload(upload.getvalue(), upload.name))
    config = LensJobConfig(loaded.identity.name, text_file, 0 if text_file else int(state.get("lens_samples") or 8),
                           steps=int(state.get("lens_steps") or 20), device=loaded.device.type)  # fmt: skip
    try:
        launch_lens_training(config, job_store())
    except (OSError, ValueError) as exc:
        state["lens_error"] = str(exc)


def lens_training(loaded) -> None:
    """The latest lens job of this model (live while active), or the controls to start one."""
    with st.expander("Tuned lens: train, report", icon=":material/tune:"):
        if error := st.session_state.pop("lens_error", None):
            st.error(error, icon=":material/error:")
        cols = st.columns([1.4, 1, 1], vertical_alignment="bottom")
        source = cols[0].radio("Train on", ["samples", "text"], horizontal=True, key="lens_source",
                               format_func={"samples": "its own samples", "text": "a text file"}.get)  # fmt: skip
        if source == "text":
            st.file_uploader("Text to train on", type=["txt", "md"], key="lens_upload")
        else:
            cols[1].number_input("Samples", 2, 200, value=8, key="lens_samples")
        cols[2].number_input("Steps", 1, 5000, value=20, key="lens_steps", help="one chunk of 32 tokens a step")
        st.button("Train a tuned lens (a job)", icon=":material/play_arrow:", key="lens_start",
                  on_click=start_training, args=(loaded,))  # fmt: skip
        st.fragment(run_every=POLL_SECONDS)(lens_job_status)(loaded.identity.name)


def lens_job_status(model_name: str) -> None:
    from jobs.launcher import stop
    from tracing.experiments.tuned_lens_job import resume_lens_training

    jobs = lens_jobs(model_name)
    if not jobs:
        st.caption("No tuned-lens job for this model yet.")
        return
    job = max(jobs, key=lambda j: j.id)
    kl = job_store().metrics(job.id).get("kl", [])
    last = f", KL {kl[-1][1]:.3f}" if kl else ""
    st.progress(job.progress, f"job {job.id}: {job.status} {job.phase} · step {job.step} of {job.total_steps}{last}")
    if job.active:
        st.button("Stop", key=f"lens_stop_{job.id}", on_click=stop, args=(job_store(), job.id))
    elif job.status in ("stopped", "failed"):
        st.button("Resume", key=f"lens_resume_{job.id}", on_click=resume_lens_training, args=(job_store(), job.id))
        if job.error:
            st.caption(job.error.splitlines()[0])
    if report := job.result.get("report"):
        st.plotly_chart(lens_report_figure(LensReport.from_dict(report)), config=PLOT_CONFIG, key="lens_report")
