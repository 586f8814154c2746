"""Shared fixtures: the offline models, loaded once per test session, and a data folder inside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests never reach a model hub, and share one converted-model cache so the GGUF conversion runs once.
os.environ.setdefault("MOMENTSCOPE_HOME", str(REPO / ".data"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

OFFLINE_CHAT_MODEL = "smollm2-135m-instruct"
OFFLINE_ENCODER = "minilm-l6"


@pytest.fixture(scope="session")
def smollm():
    """The offline chat model (SmolLM2-135M-Instruct), float32 on the CPU."""
    from model_zoo import load_model

    return load_model(OFFLINE_CHAT_MODEL, device="cpu")


@pytest.fixture(scope="session")
def minilm():
    """The offline encoder (all-MiniLM-L6-v2)."""
    from model_zoo import load_model

    return load_model(OFFLINE_ENCODER, device="cpu")


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at (screenshots); ignored by git."""
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
