"""Writing a finished adapter: peft's safetensors files plus the settings and metrics, into a temporary folder
that is renamed into place, then registered in the model zoo as "base + adapter"."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from finetune.config import TrainConfig
from model_zoo.adapters import adapters_root, register_adapter
from model_zoo.kinds import ENCODER, TASK_KINDS
from model_zoo.paths import folder_replaced_atomically

TRAINING_FILE = "training.json"


def adapter_name(config: TrainConfig, job_id: int | None) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", (config.name or Path(config.train_file).stem or "adapter").lower()).strip("-")
    return f"{stem or 'adapter'}-job{job_id}" if job_id else f"{stem or 'adapter'}-{time.strftime('%Y%m%d-%H%M%S')}"


def save_adapter(
    model, tokenizer, config: TrainConfig, result: dict, job_id: int | None, labels: list[str] | None = None
) -> tuple[str, str]:
    """Saves ``model``'s adapter atomically and registers it (with a classifier's label names); returns
    (zoo id, folder)."""
    root = adapters_root()
    name = adapter_name(config, job_id)
    final = root / name
    adapter_id = f"{config.model}+{name}"
    with folder_replaced_atomically(final) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        summary = {k: v for k, v in result.items() if k not in ("adapter_id", "adapter_path")}
        (tmp / TRAINING_FILE).write_text(json.dumps({"settings": config.to_dict(), "result": summary}, indent=2))
    kind = TASK_KINDS[config.task].name
    what = "classifier" if config.task == ENCODER.finetune_task else "LoRA"
    register_adapter(
        final,
        adapter_id=adapter_id,
        base=config.model,
        kind=kind,
        description=f"{config.model} + {what} adapter '{name}' (fine-tuned on {Path(config.train_file).name})",
        labels=labels if config.task == ENCODER.finetune_task else None,
    )
    return adapter_id, str(final)
