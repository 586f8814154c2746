"""Evaluate page: a question set with known answers (an upload, or a fine-tune job's held-out split) through a
model, or a base and its adapter side by side, as a job of its own; then accuracy, calibration, the results
table and, for any question, its trace on the Trace page at the moment it went wrong. Below, a classifier on a
labelled text file (the Classify page's evaluation panel), each wrong row opened on the Classify page.

Widgets only: tracing/experiments/ evaluates, page_glue/ wires, components/evaluation_view draws.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import streamlit as st

from components.evaluation_view import FILTERS, reliability_chart, results_frame, results_table, summary
from components.finetune_jobs import job_progress, job_table
from components.finetune_samples import problem_list
from jobs.launcher import enforce_stops, stop
from jobs.store import FINETUNE
from model_zoo.adapters import registered_adapters
from page_glue.classifier_glue import classifier_ids, get_classifier
from page_glue.classifier_panels import evaluation_panel
from page_glue.evaluation_glue import job_results, open_on_trace, start_evaluation
from page_glue.job_files import job_store, launch_button, saved_upload
from page_glue.models import model_picker
from tracing.experiments.evaluation import EvaluationSettings
from tracing.experiments.evaluation_job import KIND, EvaluationJobConfig
from tracing.experiments.questions import FORMATS, read_questions

POLL_SECONDS = 2.0
IDLE_POLL_SECONDS = 15.0
UPLOAD = "Upload questions"
HELD_OUT = "A fine-tune job's held-out split"
NO_ADAPTER = "(none: the base model alone)"


def choose_questions() -> dict | None:
    """The config's question source (``questions_file`` or ``finetune_job``) and the job's name, or None until
    one is usable."""
    source = st.radio("Questions", [UPLOAD, HELD_OUT], horizontal=True, key="ev_source")
    if source == HELD_OUT:
        jobs = [j for j in job_store().list_jobs(FINETUNE) if j.status == "succeeded"]
        if not jobs:
            st.info("No finished fine-tune job yet: run one on the Fine-tune page, or upload questions.")
            return None
        job = st.selectbox("Fine-tune job", jobs, format_func=lambda j: f"job {j.id} · {j.name}", key="ev_ft_job")
        st.caption(f"The {job.result.get('heldout', 'held-out')} examples this job measured its exact match on.")
        return {"finetune_job": job.id, "name": f"held-out of job {job.id}"}
    upload = st.file_uploader(
        "Questions with known answers (CSV, JSONL or JSON: question, answer, optional reference solution)",
        type=list(FORMATS),
        key="ev_upload",
    )
    if upload is None:
        return None
    raw = upload.getvalue()
    found = read_questions(raw, upload.name)
    if not found.ok:
        problem_list(found.problems)
        return None
    with_reference = sum(q.reference is not None for q in found.questions)
    st.caption(
        f"{len(found.questions)} questions, {with_reference} with a reference solution · columns: "
        + ", ".join(f"{role} = `{column}`" for role, column in found.columns.items())
        + (f" · read as {found.read_as.upper()} (detected, not UTF-8)" if found.read_as else "")
    )
    return {"questions_file": str(saved_upload(raw, upload.name)), "name": Path(upload.name).stem}


def choose_models(model_id: str) -> list[str]:
    adapters = [e.id for e in registered_adapters() if e.base == model_id]
    adapter = st.selectbox("Adapter, beside the base", [NO_ADAPTER, *adapters], key="ev_adapter")
    return [model_id] if adapter == NO_ADAPTER else [model_id, adapter]


def settings_form() -> EvaluationSettings:
    defaults = EvaluationSettings()
    cols = st.columns([1, 2, 1, 1])
    max_new = cols[0].number_input("Max new tokens", 1, 1024, defaults.max_new_tokens, key="ev_max_new")
    pattern = cols[1].text_input("Answer pattern (its last match)", defaults.answer_pattern, key="ev_pattern")
    paths = cols[2].number_input("Sampled paths (0: off)", 0, 64, 0, key="ev_paths")
    seed = cols[3].number_input("Seed", 0, 2**31 - 1, 0, key="ev_seed")
    return EvaluationSettings(max_new_tokens=int(max_new), answer_pattern=pattern, paths=int(paths), seed=int(seed))


def new_evaluation() -> None:
    model_id = model_picker()
    source = choose_questions()
    if not model_id or source is None:
        return
    models = choose_models(model_id)
    settings = settings_form()
    config = EvaluationJobConfig(models=models, settings=asdict(settings), **source)
    launch_button(
        config.problems(),
        "Start evaluation",
        ":material/play_arrow:",
        "ev_start",
        lambda: start_evaluation(config, job_store()),
        ("ev_job", "ev_job_pick"),
        "Evaluation job",
    )


def results(job_id: int) -> None:
    evaluation = job_results(job_id)
    if evaluation is None:
        st.warning("This job left no readable results file.")
        return
    summary(evaluation)
    two = len(evaluation.runs) == 2
    filters = [f for f in FILTERS if two or "adapter" not in f]
    left, right = st.columns([2, 1])
    with right:
        reliability_chart(evaluation, key=f"ev_reliability_{job_id}")
    with left:
        chosen = st.segmented_control("Show", filters, default=filters[0], key=f"ev_filter_{job_id}")
        frame = results_frame(evaluation, chosen or filters[0])
        results_table(frame, key=f"ev_table_{job_id}")
        st.download_button(
            "Results as CSV",
            data=evaluation.csv_text(),
            file_name=f"evaluation-{job_id}.csv",
            mime="text/csv",
            icon=":material/download:",
            key=f"ev_csv_{job_id}",
            on_click="ignore",
        )
    if frame.empty:
        return
    cols = st.columns([3, 2, 1.4], vertical_alignment="bottom")
    labels = {int(i): f"#{int(i)} · {q[:70]}" for i, q in zip(frame["index"], frame["question"], strict=True)}
    question = cols[0].selectbox("Question", list(labels), format_func=labels.get, key=f"ev_question_{job_id}")
    run = cols[1].selectbox(
        "Model", range(len(evaluation.runs)), format_func=lambda r: evaluation.runs[r].name, key=f"ev_run_{job_id}"
    )
    if cols[2].button("Open on the Trace page", icon=":material/timeline:", key=f"ev_open_{job_id}"):
        open_on_trace(job_id, run, question)


def draw_jobs(polling_fast: bool) -> None:
    store = job_store()
    enforce_stops(store)
    jobs = store.list_jobs(KIND)
    if any(j.active for j in jobs) != polling_fast:
        st.rerun()
    if not jobs:
        st.info("No evaluations yet. Start one above.", icon=":material/info:")
        return
    job_table(jobs)
    ids = [j.id for j in jobs]
    wanted = st.session_state.get("ev_job")
    job_id = st.selectbox(
        "Evaluation",
        ids,
        index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda i: f"job {i}",
        key="ev_job_pick",
    )
    job = next(j for j in jobs if j.id == job_id)
    job_progress(job)
    if job.active and st.button("Stop", icon=":material/stop:", key=f"ev_stop_{job.id}"):
        stop(store, job.id)
        st.toast(f"Asked job {job.id} to stop.")
    if job.status == "succeeded":
        results(job.id)


def classifier_section() -> None:
    """A classifier (a fine-tune's, or the offline encoder) on a labelled text file; nothing loads until one is
    picked."""
    model_id = st.selectbox("Classifier", classifier_ids(), index=None, placeholder="Pick a classifier",
                            key="ev_cls_model")  # fmt: skip
    loaded = get_classifier(model_id) if model_id else None
    if loaded is not None:
        evaluation_panel(model_id, loaded, "ev_cls", leave=True)


live_jobs_panel = st.fragment(run_every=POLL_SECONDS, key="ev_jobs_live")(draw_jobs)
idle_jobs_panel = st.fragment(run_every=IDLE_POLL_SECONDS, key="ev_jobs_idle")(draw_jobs)


st.header("Evaluate", anchor=False)
st.caption(
    "Questions with known answers through a model (and an adapter): which it gets wrong, how sure it was, and "
    "the moment its reasoning left the reference solution."
)
st.subheader("New evaluation", anchor=False)
new_evaluation()
st.subheader("Evaluations", anchor=False)
if any(j.active for j in job_store().list_jobs(KIND)):
    live_jobs_panel(True)
else:
    idle_jobs_panel(False)
st.subheader("A classifier on a labelled file", anchor=False)
st.caption(
    "Texts with known labels through a classifier: accuracy with its interval, the confusion matrix, precision "
    "and recall per class, and the wrong rows, each opened on the Classify page."
)
classifier_section()
