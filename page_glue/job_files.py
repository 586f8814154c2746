"""What pages that start jobs share: the job store of the current data home, kept per process, and an
uploaded file written to disk for the job's process to read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from finetune.jobs import JobStore, default_store_path
from model_zoo.paths import data_dir


@st.cache_resource
def cached_store(path: str) -> JobStore:
    return JobStore(path)


def job_store() -> JobStore:
    """The store of the current data home (keyed by path, so a moved MOMENTSCOPE_HOME gets its own)."""
    return cached_store(str(default_store_path()))


def saved_upload(raw: bytes, name: str) -> Path:
    """The uploaded bytes on disk (the job process reads files), named by content so re-uploads are free."""
    digest = hashlib.sha256(raw).hexdigest()[:12]
    path = data_dir("uploads") / f"{digest}-{Path(name).name}"
    if not path.exists():
        path.write_bytes(raw)
    return path
