"""A steering vector: one direction of a model's residual stream, what it was made from and for which model.

Torch-free, so a page lists and describes saved vectors without the engine. A vector is saved as two files in
``<data home>/steering/``: ``<name>.safetensors`` (one tensor, ``vector``, float32 ``[hidden]``) and
``<name>.json`` (the rest), and is found again by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model_zoo.paths import data_dir

FOLDER = "steering"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


@dataclass
class SteeringVector:
    """``vector`` (float32 ``[hidden]``) read at the output of ``layer`` of ``model_id`` (a base model id;
    its adapters share the base's residual stream). ``source`` says how it was made: ``{"kind": "contrast",
    "positive": [...], "negative": [...], "reduce": "last" | "mean"}``, ``{"kind": "token", ...}`` or
    ``{"kind": "file", "path": ...}``."""

    name: str
    vector: np.ndarray
    layer: int
    model_id: str
    source: dict = field(default_factory=dict)

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector.astype(np.float64)))

    @property
    def hidden_size(self) -> int:
        return int(self.vector.shape[-1])

    def describe(self) -> dict:
        """Everything but the values (what a trace's branch records and the CLI prints)."""
        return {"name": self.name, "layer": self.layer, "model_id": self.model_id, "norm": self.norm,
                "hidden_size": self.hidden_size, "source": self.source}  # fmt: skip

    def check_for(self, base_id: str, hidden_size: int) -> None:
        """ValueError when this vector was made for another model or does not fit its residual stream."""
        if self.model_id and self.model_id != base_id:
            raise ValueError(
                f"steering vector '{self.name}' was made on '{self.model_id}', not '{base_id}': its directions "
                "mean nothing in another model's residual stream."
            )
        if self.hidden_size != hidden_size:
            raise ValueError(
                f"steering vector '{self.name}' has {self.hidden_size} values, but {base_id}'s residual stream "
                f"has {hidden_size}."
            )


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"{name!r} is not a usable vector name: use 1 to 80 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit."
        )
    return name


def steering_folder() -> Path:
    return data_dir(FOLDER)


def save_vector(vector: SteeringVector, folder: Path | None = None) -> Path:
    """Writes ``<name>.safetensors`` and ``<name>.json`` (replacing a vector of that name); returns the first."""
    from safetensors.numpy import save_file

    folder = Path(folder) if folder is not None else steering_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = check_name(vector.name)
    values = folder / f"{name}.safetensors"
    save_file({"vector": np.ascontiguousarray(vector.vector, dtype=np.float32)}, str(values))
    meta = {k: v for k, v in asdict(vector).items() if k != "vector"}
    (folder / f"{name}.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return values


def read_vector_file(path: str | Path) -> SteeringVector:
    """A vector from a ``.safetensors`` file: its ``vector`` tensor (or its only one), described by the
    ``.json`` beside it when there is one (else named after the file, for no model in particular)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No steering vector file at {path}.")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path} is not a safetensors file: {exc}") from exc
    values = tensors.get("vector", next(iter(tensors.values())) if len(tensors) == 1 else None)
    if values is None or values.ndim != 1:
        raise ValueError(f"{path} holds no one-dimensional tensor named 'vector' (found {sorted(tensors)}).")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return SteeringVector(
        name=meta.get("name", path.stem),
        vector=values.astype(np.float32),
        layer=int(meta.get("layer", 0)),
        model_id=meta.get("model_id", ""),
        source=meta.get("source", {"kind": "file", "path": str(path)}),
    )


def load_vector(name: str, folder: Path | None = None) -> SteeringVector:
    folder = Path(folder) if folder is not None else steering_folder()
    path = folder / f"{check_name(name)}.safetensors"
    if not path.is_file():
        raise ValueError(f"No saved steering vector '{name}' (saved: {', '.join(saved_names(folder)) or 'none'}).")
    return read_vector_file(path)


def saved_names(folder: Path | None = None, model_id: str | None = None) -> list[str]:
    """The saved vectors' names, sorted; with ``model_id``, only those made on that base model."""
    folder = Path(folder) if folder is not None else steering_folder()
    names = []
    for meta_path in sorted(folder.glob("*.json")):
        if not meta_path.with_suffix(".safetensors").is_file():
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if model_id is None or meta.get("model_id") in (model_id, ""):
            names.append(meta_path.stem)
    return names
