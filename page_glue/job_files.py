"""What pages that start jobs share: the job store of the current data home, kept per process, an uploaded
file written to disk for the job's process to read, and the button that starts a job."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from finetune.training_store import TrainingJobStore
from jobs.store import default_store_path
from model_zoo.paths import data_dir


@st.cache_resource
def cached_store(path: str) -> TrainingJobStore:
    return TrainingJobStore(path)


def job_store() -> TrainingJobStore:
    """The store of the current data home (keyed by path, so a moved MOMENTSCOPE_HOME gets its own)."""
    return cached_store(str(default_store_path()))


def saved_upload(raw: bytes, name: str) -> Path:
    """The uploaded bytes on disk (the job process reads files), named by content so re-uploads are free."""
    digest = hashlib.sha256(raw).hexdigest()[:12]
    path = data_dir("uploads") / f"{digest}-{Path(name).name}"
    if not path.exists():
        path.write_bytes(raw)
    return path


def launch_button(
    problems: list[str],
    label: str,
    icon: str,
    key: str,
    start: Callable[[], int],
    shown_keys: tuple[str, ...],
    what: str,
    verbs: tuple[str, str] = ("start", "started"),
) -> None:
    """The settings' problems, or a button that starts the job with ``start()`` (its id) and shows it: the new id
    goes into the ``shown_keys`` of the session, and a toast names it (``what`` is "Job", "Evaluation job"; the
    page's ``verbs``, e.g. ("launch", "launched"), word the failure and the toast)."""
    if problems:
        st.error("; ".join(problems), icon=":material/error:")
        return
    if st.button(label, type="primary", icon=icon, key=key):
        try:
            job_id = start()
        except (OSError, ValueError) as exc:
            st.error(f"Could not {verbs[0]}: {exc}")
        else:
            for shown in shown_keys:
                st.session_state[shown] = job_id
            st.toast(f"{what} {job_id} {verbs[1]}.")
