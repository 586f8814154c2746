"""The model catalog: named entries from ``catalog.toml`` plus any hub id or local folder a user types."""

from __future__ import annotations

import tomllib
from pathlib import Path

from model_zoo.adapters import adapter_at, registered_adapters
from model_zoo.entry import SOURCES, ModelEntry
from model_zoo.errors import ModelLoadError
from model_zoo.kinds import CAUSAL_LM, KINDS

CATALOG_FILE = Path(__file__).with_name("catalog.toml")


def _entry_from_dict(raw: dict) -> ModelEntry:
    known = {f for f in ModelEntry.__dataclass_fields__ if f != "extra"}
    missing = [k for k in ("id", "kind", "source") if not raw.get(k)]
    if missing:
        raise ValueError(f"catalog entry {raw!r} lacks {', '.join(missing)}")
    if raw["kind"] not in KINDS:
        raise ValueError(f"catalog entry {raw['id']!r}: kind {raw['kind']!r} is not one of {tuple(KINDS)}")
    if raw["source"] not in SOURCES:
        raise ValueError(f"catalog entry {raw['id']!r}: source {raw['source']!r} is not one of {SOURCES}")
    return ModelEntry(
        **{k: v for k, v in raw.items() if k in known},
        extra={k: v for k, v in raw.items() if k not in known},
    )


def load_catalog(path: Path = CATALOG_FILE) -> list[ModelEntry]:
    """The catalog's entries in file order, then any adapters registered by fine-tune jobs."""
    with open(path, "rb") as fh:
        entries = [_entry_from_dict(raw) for raw in tomllib.load(fh).get("model", [])]
    ids = [e.id for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"{path}: model ids listed twice: {', '.join(dupes)}")
    return entries + [a for a in registered_adapters() if a.id not in ids]


def default_entry(entries: list[ModelEntry] | None = None) -> ModelEntry:
    entries = entries if entries is not None else load_catalog()
    return next((e for e in entries if e.default), entries[0])


def resolve(model_id: str, entries: list[ModelEntry] | None = None) -> ModelEntry:
    """The entry for a catalog id, a hub repo id named in the catalog, a local folder (a model, or an adapter
    folder a fine-tune registered), or any other hub id.

    A typed id is never guessed into an encoder: unknown ids are taken as causal LMs, and the loader says so
    clearly if the checkpoint turns out to be something else.
    """
    model_id = (model_id or "").strip()
    if not model_id:
        raise ModelLoadError("No model id given: pick a model from the list or type a hub id or a folder.")
    entries = entries if entries is not None else load_catalog()
    for entry in entries:
        if model_id in (entry.id, entry.repo):
            return entry
    path = Path(model_id).expanduser()
    if path.exists():
        if (adapter := adapter_at(model_id)) is not None:  # e.g. a fine-tune checkpoint's adapter
            return adapter
        if not path.is_dir() or not (path / "config.json").exists():
            raise ModelLoadError(
                f"'{model_id}' is a local path but not a model folder (a folder with config.json, "
                "as written by save_pretrained)."
            )
        return ModelEntry(id=str(path), kind=CAUSAL_LM.name, source="local", path=str(path), description="local folder")
    if model_id.startswith(("/", "./", "~")) or model_id.count("/") > 1:
        raise ModelLoadError(f"'{model_id}' is neither a model in the catalog, an existing folder, nor a hub id.")
    return ModelEntry(id=model_id, kind=CAUSAL_LM.name, source="hub", repo=model_id, description="hub model")
