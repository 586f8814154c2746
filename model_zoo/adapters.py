"""LoRA adapters made by fine-tune jobs, registered in the zoo as "base + adapter" entries.

An adapter folder under ``<data home>/adapters/<name>/`` holds peft's files plus ``momentscope.json``
(id, base model id, kind, description, and a classifier's label names). Writing that file last is what
registers the adapter.
"""

from __future__ import annotations

import json
from pathlib import Path

from model_zoo.entry import ModelEntry
from model_zoo.kinds import CAUSAL_LM
from model_zoo.paths import data_dir

REGISTRATION_FILE = "momentscope.json"


def adapters_root() -> Path:
    return data_dir("adapters")


def register_adapter(
    folder: Path, *, adapter_id: str, base: str, kind: str, description: str, labels: list[str] | None = None
) -> None:
    """Marks a finished adapter folder as loadable (atomic: a half-written folder is never listed).

    ``labels`` are a classifier's class names in index order: loading needs their number to build the head."""
    meta = {"id": adapter_id, "base": base, "kind": kind, "description": description}
    if labels:
        meta["labels"] = list(labels)
    tmp = folder / (REGISTRATION_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(folder / REGISTRATION_FILE)


def adapter_labels(folder: str | Path) -> list[str]:
    """A registered classifier adapter's label names (empty for other adapters or an unreadable file)."""
    try:
        return list(json.loads((Path(folder) / REGISTRATION_FILE).read_text()).get("labels", []))
    except (OSError, json.JSONDecodeError, AttributeError):
        return []


def _entry(meta_file: Path, adapter_id: str | None = None) -> ModelEntry | None:
    """The catalog entry a registration file describes (its own id unless ``adapter_id`` is given); None
    when the file cannot be read."""
    try:
        meta = json.loads(meta_file.read_text())
        return ModelEntry(
            id=adapter_id or meta["id"],
            kind=meta.get("kind", CAUSAL_LM.name),
            source="adapter",
            base=meta["base"],
            path=str(meta_file.parent),
            description=meta.get("description", f"{meta['base']} + LoRA adapter"),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None


def registered_adapters():
    """Catalog entries for every registered adapter, newest first."""
    folders = sorted(adapters_root().glob(f"*/{REGISTRATION_FILE}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [entry for entry in map(_entry, folders) if entry is not None]


def adapter_at(folder: str | Path) -> ModelEntry | None:
    """A registered adapter folder named by its path (a fine-tune checkpoint's adapter, which the zoo's list
    leaves out): its entry, with the path as given for its id; None when the folder holds no registration."""
    meta_file = Path(folder).expanduser() / REGISTRATION_FILE
    return _entry(meta_file, str(folder)) if meta_file.is_file() else None
