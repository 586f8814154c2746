"""A tiny classifier adapter of the offline encoder, registered as the Fine-tune page registers one (kind
encoder, label names, LoRA on the attention and MLP denses, the trained head saved with it); its LoRA and head
weights are random and non-zero, so its decisions differ from its base's."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.conftest import OFFLINE_ENCODER

TINY_CLASSIFIER = f"{OFFLINE_ENCODER}+tiny-test-classifier"
CLASSIFIER_LABELS = ["negative", "positive"]


def make_tiny_classifier(home: Path) -> str:
    """Registers the adapter under the data folder ``home`` (already MOMENTSCOPE_HOME); returns its zoo id."""
    from peft import LoraConfig, TaskType, get_peft_model

    from model_zoo import load_model
    from model_zoo.adapters import register_adapter

    torch.manual_seed(0)
    base = load_model(OFFLINE_ENCODER, device="cpu", num_labels=len(CLASSIFIER_LABELS)).model
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value", "dense"], init_lora_weights=False,
                        task_type=TaskType.SEQ_CLS)  # fmt: skip
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "classifier" in name:
                parameter.add_(torch.randn_like(parameter))
    folder = home / "adapters" / "tiny-test-classifier"
    model.save_pretrained(folder)
    register_adapter(folder, adapter_id=TINY_CLASSIFIER, base=OFFLINE_ENCODER, kind="encoder",
                     description="test classifier", labels=CLASSIFIER_LABELS)  # fmt: skip
    return TINY_CLASSIFIER
