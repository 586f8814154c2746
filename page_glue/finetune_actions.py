"""What a user can do with one fine-tune job on the Fine-tune page: stop it, resume or extend it, and take its
adapter out (a zip download, or merged into its base as a plain transformers model)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from finetune.export import adapter_zip, merge_and_save
from finetune.launcher import resumable, resume
from finetune.training_store import TrainingJobStore
from jobs.launcher import stop
from jobs.store import Job


def stop_button(store: TrainingJobStore, job: Job) -> None:
    if job.active and st.button("Stop", icon=":material/stop:", key=f"ft_stop_{job.id}"):
        stop(store, job.id)
        st.toast(f"Asked job {job.id} to stop.")


def resume_actions(store: TrainingJobStore, job: Job) -> None:
    """A stopped, failed or finished job with a checkpoint: resume it to its planned end, or train N more
    steps from its checkpoint. Its curves continue in place; the steps after the checkpoint are redone."""
    if job.active or (step := resumable(store, job.id)) is None:
        return
    cols = st.columns([1, 1, 1])
    if step < job.total_steps and cols[0].button(
        f"Resume from step {step}", icon=":material/play_arrow:", key=f"ft_resume_{job.id}"
    ):
        _resume(store, job, 0)
    more = cols[1].number_input("More steps", 1, 100_000, 20, key=f"ft_more_{job.id}")
    if cols[2].button(f"Train {more} more steps", icon=":material/add:", key=f"ft_extend_{job.id}"):
        _resume(store, job, int(more))


def _resume(store: TrainingJobStore, job: Job, more_steps: int) -> None:
    try:
        step = resume(store, job.id, more_steps=more_steps)
    except (OSError, ValueError) as exc:
        st.error(f"Could not resume: {exc}")
        return
    st.toast(f"Job {job.id} resumes from step {step}.")
    st.rerun()  # the panel polls fast again while the job is active


def export_actions(job: Job) -> None:
    """A finished adapter: download it as a zip, or merge it into its base and save the model folder."""
    if job.status != "succeeded" or not job.adapter_path or not Path(job.adapter_path).is_dir():
        return
    folder = Path(job.adapter_path)
    cols = st.columns(2)
    cols[0].download_button(
        "Download the adapter (zip)",
        data=lambda: adapter_zip(folder),  # built on click, not on every poll of the panel
        file_name=f"{folder.name}.zip",
        mime="application/zip",
        icon=":material/download:",
        key=f"ft_zip_{job.id}",
    )
    merged_key = f"ft_merged_{job.id}"
    if cols[1].button("Merge and save", icon=":material/merge:", key=f"ft_merge_{job.id}"):
        with st.spinner("Merging the adapter into the base weights..."):
            try:
                st.session_state[merged_key] = str(merge_and_save(job.adapter_id))
            except (OSError, ValueError, RuntimeError) as exc:
                st.error(f"Could not merge: {exc}")
    if merged := st.session_state.get(merged_key):
        st.success(
            f"Merged model saved to `{merged}`: plain transformers loads it without peft "
            "(`AutoModelForCausalLM.from_pretrained(folder)`), and the sidebar takes the folder as a model.",
            icon=":material/merge:",
        )
