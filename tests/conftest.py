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
CJK_PROMPT = "小明有三个苹果，吃了一个，还剩几个？"
CJK_ANSWER = "还剩两个🍎。猫が好きです🎉👍"


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


@pytest.fixture(scope="session")
def cjk_trace(smollm):
    """A trace of a Chinese prompt whose answer is forced to CJK_ANSWER (Chinese, Japanese and emoji, a branch at
    moment 0), so its generated tokens split characters over several tokens as byte-level BPE does."""
    from tracing.core.decode import trace_generation
    from tracing.core.trace import DecodingSettings
    from tracing.experiments.branch import branch, token_ids_for

    start = trace_generation(smollm, CJK_PROMPT, DecodingSettings(max_new_tokens=1))
    ids = token_ids_for(smollm.tokenizer, CJK_ANSWER)
    return branch(smollm, start, 0, ids, DecodingSettings(max_new_tokens=len(ids)))


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at (screenshots); ignored by git."""
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
