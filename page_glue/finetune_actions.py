"""What a user can do with one fine-tune job on the Fine-tune page: stop it, resume or extend it, and take its
adapter out (a zip download, or merged into its base as a plain transformers model)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from finetune.export import adapter_zip, merge_and_save
from finetune.jobs import Job, JobStore
from finetune.launcher import stop


def stop_button(store: JobStore, job: Job) -> None:
    if job.active and st.button("Stop", icon=":material/stop:", key=f"ft_stop_{job.id}"):
        stop(store, job.id)
        st.toast(f"Asked job {job.id} to stop.")


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
