"""Taking a fine-tuned adapter out of Momentscope: merged into its base as a plain transformers model folder
(safetensors, loadable without peft), or the adapter folder itself as one zip file.

Merging is peft's ``merge_and_unload``: each LoRA (or AdaLoRA) update is added into the weight it adapts,
so the merged model computes what base + adapter computes, with no adapter left to load.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from model_zoo.paths import data_dir, folder_replaced_atomically

MERGED_README = """A model merged from {adapter_id}: the base model with its adapter added into the weights.
Load it with plain transformers, no peft needed:

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained("{folder}")
    tokenizer = AutoTokenizer.from_pretrained("{folder}")
"""


def merged_folder_name(adapter_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", adapter_id).strip("-") or "merged"


def merge_and_save(adapter_id: str, out: str | Path | None = None) -> Path:
    """Loads ``adapter_id`` (a zoo "base + adapter" entry) on the CPU in float32, merges the adapter into the
    base weights and writes the model and tokenizer to ``out`` (default ``<data home>/merged/<id>``), in
    place of any earlier export and atomically. Returns the folder."""
    from model_zoo import load_model

    loaded = load_model(adapter_id, device="cpu")
    if not hasattr(loaded.model, "merge_and_unload"):
        raise ValueError(f"{adapter_id!r} is not a model with an adapter; there is nothing to merge")
    final = Path(out) if out else data_dir("merged") / merged_folder_name(adapter_id)
    merged = loaded.model.merge_and_unload()
    with folder_replaced_atomically(final) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        loaded.tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(MERGED_README.format(adapter_id=adapter_id, folder=final))
    return final


def adapter_zip(folder: str | Path) -> bytes:
    """The adapter folder's files as one zip, under a top folder of the adapter's name."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return buffer.getvalue()
