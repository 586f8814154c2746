"""A tiny LoRA adapter of the offline chat model, registered in a throwaway data folder, for tests of
adapter traces (its weights are random and non-zero, so the adapter's outputs differ from the base's)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from tests.conftest import OFFLINE_CHAT_MODEL

TINY_ADAPTER = f"{OFFLINE_CHAT_MODEL}+tiny-test-lora"


def make_tiny_adapter(home: Path, base_id: str = OFFLINE_CHAT_MODEL) -> str:
    """Registers a small LoRA adapter of ``base_id`` with non-zero weights under the data folder ``home``
    (which must already be MOMENTSCOPE_HOME); the converted base model is shared with the current data
    folder so nothing is converted again. Returns the adapter's zoo id."""
    from peft import LoraConfig, get_peft_model

    from model_zoo import load_model
    from model_zoo.adapters import register_adapter

    base = load_model(base_id, device="cpu").model  # a fresh copy: get_peft_model changes it in place
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    folder = home / "adapters" / "tiny-test-lora"
    get_peft_model(base, config).save_pretrained(folder)
    register_adapter(folder, adapter_id=TINY_ADAPTER, base=base_id, kind="causal-lm", description="test adapter")
    return TINY_ADAPTER


def temp_home(tmp: Path) -> Path:
    """A data folder whose converted models are the current data folder's (a symlink)."""
    from model_zoo.paths import data_dir

    home = tmp / "home"
    home.mkdir()
    os.symlink(data_dir("converted"), home / "converted")
    return home
