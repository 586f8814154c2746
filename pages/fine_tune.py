"""Fine-tune page: choose data, check it, set up a LoRA run, launch it as its own process and watch it.

Widgets only: the engine (finetune/) validates, launches and stores; components/finetune_* draw.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components.finetune_charts import draw_loss_chart
from components.finetune_jobs import evaluation_table, job_progress, job_table
from components.finetune_samples import length_metrics, preview_table, problem_list, sample_generations
from datafiles.rows import FORMATS, load_examples
from finetune.config import estimate
from finetune.launcher import launch
from finetune.mapping import STYLES, ColumnMapping, guess_mapping
from finetune.sample_data import sample_path
from finetune.validation import check_data
from jobs.launcher import enforce_stops
from jobs.store import FINETUNE
from model_zoo.kinds import CAUSAL_LM, ENCODER, TASK_KINDS
from page_glue.compare_runs_panel import compare_runs
from page_glue.finetune_actions import export_actions, resume_actions, stop_button
from page_glue.finetune_settings import settings_form
from page_glue.job_files import job_store, launch_button, saved_upload
from page_glue.models import get_model, model_picker
from page_glue.probe_panel import probe_panel

POLL_SECONDS = 2.0  # while a job is queued, running or stopping
IDLE_POLL_SECONDS = 15.0  # otherwise: only to notice a job launched elsewhere (the CLI, another tab)
TASKS = {"Instruction tuning (chat model)": CAUSAL_LM.finetune_task, "Classification (encoder)": ENCODER.finetune_task}
SAMPLE = "Bundled sample: step-by-step addition"
UPLOAD = "Upload a file"


def choose_data(task: str):
    """(raw bytes, file name, path on disk, held-out test path) for the chosen source, or None."""
    sources = [UPLOAD, SAMPLE] if task == CAUSAL_LM.finetune_task else [UPLOAD]
    source = st.radio("Data", sources, horizontal=True, key="ft_source")
    if source == SAMPLE:
        path = sample_path("train")
        st.caption("400 two-digit sums worked column by column; 40 held-out sums measure exact match.")
        return path.read_bytes(), path.name, path, sample_path("test")
    upload = st.file_uploader(
        "Examples (CSV, JSONL, JSON, or text with one example per line)", type=list(FORMATS), key="ft_upload"
    )
    if upload is None:
        return None
    raw = upload.getvalue()
    return raw, upload.name, saved_upload(raw, upload.name), None


def encoding_question(note: str) -> str:
    return f"The file is not UTF-8 and was {note}: the preview above reads right, use it"


def choose_mapping(columns: list[str], task: str) -> ColumnMapping | None:
    """The mapping chosen in the widgets; it keeps the guess's ``by_position`` mark while it is the guess."""
    guess = guess_mapping(columns, task)
    styles = [s for s in STYLES if (s == "text-label") == (task == ENCODER.finetune_task)]
    cols = st.columns(3)
    style = cols[0].selectbox("Style", styles, index=styles.index(guess.style) if guess else 0, key="ft_style")
    chosen = {}
    for slot, role in zip(cols[1:], STYLES[style], strict=False):
        default = guess.columns.get(role) if guess and guess.style == style else None
        index = columns.index(default) if default in columns else None
        chosen[role] = slot.selectbox(f"{role} column", columns, index=index, key=f"ft_col_{style}_{role}")
    if not all(chosen.values()):
        return None
    mapping = ColumnMapping(style, chosen)
    return guess if mapping == guess else mapping


def data_and_launch() -> None:
    task = TASKS[st.radio("Task", list(TASKS), horizontal=True, key="ft_task")]
    model_id = model_picker(kind=TASK_KINDS[task].name)
    if not model_id:
        st.warning("No model of this kind in the catalog.")
        return
    chosen = choose_data(task)
    if chosen is None:
        return
    raw, name, path, test_path = chosen
    data = load_examples(raw, name)
    if not data.rows:
        problem_list(data.problems)
        return
    preview_table(data.rows)
    if data.encoding_detected:
        if not st.checkbox(encoding_question(data.encoding_note), key=f"ft_accept_{path.name}"):
            return
        path = saved_upload(raw.decode(data.encoding).encode("utf-8"), name)  # the job reads UTF-8
    mapping = choose_mapping(data.columns, task)
    if mapping is None:
        st.info("Choose a column for every role.")
        return
    if note := mapping.guess_note():
        st.warning(f"Column mapping: {note} above.", icon=":material/help:")
    loaded = get_model(model_id)
    if loaded is None:
        return
    config = settings_form(task, model_id)
    report = check_data(
        data,
        mapping,
        task=task,
        tokenizer=loaded.tokenizer,
        max_context=loaded.max_context,
        max_length=config.max_length,
    )
    if report.lengths:
        length_metrics(report.lengths, config.max_length)
    if not report.ok:
        problem_list(report.problems)
        return
    config.train_file, config.mapping = str(path), mapping.to_dict()
    config.test_file = str(test_path) if test_path else ""
    train_count = int(len(report.examples) * (1 - config.validation_fraction))
    validation_count = len(report.examples) - train_count
    cfg = loaded.model.config
    guess = estimate(
        config,
        train_examples=train_count,
        mean_tokens=report.lengths.median if report.lengths else 64,
        parameters=sum(p.numel() for p in loaded.model.parameters()),
        hidden=int(cfg.hidden_size),
        layers=int(cfg.num_hidden_layers),
        device=loaded.device.type,
        validation_examples=validation_count,
        heldout_examples=config.test_limit if test_path else validation_count,
    )
    st.caption(f"Estimate: {guess.describe()}. Training runs as its own process; this page can be closed.")
    launch_button(
        config.problems(),
        "Launch fine-tune",
        ":material/rocket_launch:",
        "ft_launch",
        lambda: launch(config, job_store()),
        ("ft_job", "ft_job_pick"),  # show the new job
        "Job",
        ("launch", "launched"),
    )


def draw_jobs(polling_fast: bool) -> None:
    """The job table and the chosen job; a fragment that reruns on a timer (fast while a job is active).

    Every rerun re-sends the table and the loss chart to the browser, so the panel polls fast only while
    there is something to follow, and asks for one full rerun when that changes (the pace is set by which
    fragment the page script calls)."""
    store = job_store()
    enforce_stops(store)
    jobs = store.list_jobs(FINETUNE)
    if any(j.active for j in jobs) != polling_fast:
        st.rerun()
    job_table(jobs)
    if not jobs:
        return
    ids = [j.id for j in jobs]
    wanted = st.session_state.get("ft_job")
    job_id = st.selectbox(
        "Job", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=lambda i: f"job {i}", key="ft_job_pick"
    )
    job = next(j for j in jobs if j.id == job_id)
    job_progress(job)
    stop_button(store, job)
    resume_actions(store, job)
    export_actions(job)
    evaluation_table(store.evaluations(job.id))
    draw_loss_chart(store.metrics(job.id), key=f"ft_chart_{job.id}")
    probe_panel(store, job)
    sample_generations(store.samples(job.id))
    if job.log_path:
        jobs_folder = Path(job.log_path).parent.parent
        st.caption(f"Log: `{job.log_path}` · TensorBoard: `tensorboard --logdir {jobs_folder}`")


live_jobs_panel = st.fragment(run_every=POLL_SECONDS, key="ft_jobs_live")(draw_jobs)
idle_jobs_panel = st.fragment(run_every=IDLE_POLL_SECONDS, key="ft_jobs_idle")(draw_jobs)


def jobs_panel() -> None:
    if any(j.active for j in job_store().list_jobs(FINETUNE)):
        live_jobs_panel(True)
    else:
        idle_jobs_panel(False)


st.header("Fine-tune", anchor=False)
st.caption("Teach a model something new with a LoRA adapter, then trace the tuned model on the Trace page.")
st.subheader("New job", anchor=False)
data_and_launch()
st.subheader("Jobs", anchor=False)
jobs_panel()
if len(all_jobs := job_store().list_jobs(FINETUNE)) > 1:
    with st.expander("Compare runs", icon=":material/compare_arrows:"):
        compare_runs(job_store(), all_jobs)
