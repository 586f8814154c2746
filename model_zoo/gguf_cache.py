"""One-time conversion of a GGUF checkpoint to a safetensors folder, so later loads take well under a second.

transformers de-quantises GGUF weights on every load (~20 s for SmolLM2-135M here). We do it once, save the
float weights with ``save_pretrained`` into ``<data home>/converted/<id>-<version>/`` and load from there.
The conversion writes into a temporary folder and renames it into place, under a file lock, so two
processes (or two app sessions) never see a half-written folder.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from model_zoo.paths import data_dir, folder_replaced_atomically

DONE_MARKER = "conversion-complete"


def conversion_target(model_id: str, package: str) -> Path:
    """Where the converted copy of a wheel's GGUF file lives; keyed by the wheel's version."""
    version = importlib.metadata.version(package.replace("_", "-"))
    return data_dir("converted") / f"{model_id}-{version}"


def needs_conversion(entry) -> bool:
    """Whether loading this catalog entry will first run the (slow, one-time) GGUF conversion."""
    return entry.source == "wheel-gguf" and not (conversion_target(entry.id, entry.package) / DONE_MARKER).exists()


def converted_folder(target: Path, gguf_path: Path, progress: Callable[[float, str], None]) -> Path:
    """The safetensors folder ``target`` for a GGUF file, converting it first if no finished conversion exists."""
    root = target.parent
    model_id = target.name
    if (target / DONE_MARKER).exists():
        return target
    with open(root / f".{model_id}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / DONE_MARKER).exists():  # another process finished while we waited
            return target
        remove_unfinished(target)
        progress(0.05, "First use: converting the GGUF weights to safetensors (about 20 s, once)...")
        with folder_replaced_atomically(target) as tmp:
            convert_gguf(gguf_path, tmp)
            (tmp / DONE_MARKER).write_text(str(gguf_path))
            progress(0.85, "Conversion done; loading the converted weights...")
    return target


def remove_unfinished(target: Path) -> list[Path]:
    """Removes what conversions to ``target`` that never ended left behind (a server stopped in the middle of one
    leaves its temporary folder, hundreds of MB); called under the conversion lock, so none of them is running."""
    left = [p for p in target.parent.glob(f".{target.name}-*") if p.is_dir()]
    if target.exists() and not (target / DONE_MARKER).exists():
        left.append(target)
    for folder in left:
        shutil.rmtree(folder, ignore_errors=True)
    return left


def convert_gguf(gguf_path: Path, out: Path) -> None:
    """De-quantises a GGUF checkpoint with transformers and saves it (model and tokenizer) to ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # save_pretrained refuses quantised models; the weights are already plain float32 tensors here.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
