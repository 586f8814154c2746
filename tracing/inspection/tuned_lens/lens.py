"""The translators of one model's tuned lens, and where they are kept.

Row ``i`` of a lens reading (as in `tracing.inspection.logit_lens.residual_states`: row 0 the embeddings, the
last row the final residual) is translated by ``h + A_i h + b_i`` for every row but the last, which the
model's own final norm and unembedding already decode. ``A_i`` and ``b_i`` start at zero, so an untrained
lens is the logit lens exactly. A lens is saved in ``<data home>/tuned_lens/<model>/`` (``lens.safetensors``
and ``lens.json``) and found again for that model alone (an adapter has its own).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

from model_zoo.paths import data_dir

FOLDER = "tuned_lens"
WEIGHTS, META = "lens.safetensors", "lens.json"


class TunedLens(torch.nn.Module):
    """``num_layers`` translators ``[hidden] -> [hidden]`` (the rows before each layer), identity at first."""

    def __init__(self, num_layers: int, hidden_size: int, identity: dict | None = None) -> None:
        super().__init__()
        self.translators = torch.nn.ModuleList(torch.nn.Linear(hidden_size, hidden_size) for _ in range(num_layers))
        for translator in self.translators:
            torch.nn.init.zeros_(translator.weight)
            torch.nn.init.zeros_(translator.bias)
        self.identity = identity or {}
        self.trained = {"steps": 0, "tokens": 0}

    @property
    def num_layers(self) -> int:
        return len(self.translators)

    def translate_row(self, row: int, states: torch.Tensor) -> torch.Tensor:
        """Reading row ``row`` (``[..., hidden]``) translated; the last row (the final residual) unchanged."""
        if row >= self.num_layers:
            return states
        translator = self.translators[row]
        return states + translator(states.to(translator.weight.dtype)).to(states.dtype)

    def translate(self, states: torch.Tensor) -> torch.Tensor:
        """Every row of ``[layers + 1, ..., hidden]`` translated."""
        return torch.stack([self.translate_row(row, states[row]) for row in range(states.shape[0])])


def model_key(loaded) -> dict:
    """What a lens is trained for: the model's identity and the shape of its residual stream."""
    identity = loaded.identity
    return {"base": identity.base, "adapter": identity.adapter, "num_layers": loaded.num_layers,
            "hidden_size": int(loaded.model.config.hidden_size)}  # fmt: skip


def lens_folder(loaded) -> Path:
    """``<data home>/tuned_lens/<model>``: a readable name and a short hash of the full identity."""
    name = loaded.identity.name
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-60:].strip("._") or "model"
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return data_dir(FOLDER) / f"{readable}-{digest}"


def new_lens(loaded) -> TunedLens:
    key = model_key(loaded)
    return TunedLens(key["num_layers"], key["hidden_size"], key).to(loaded.device)


def save_lens(lens: TunedLens, folder: Path) -> Path:
    """Writes the translators and what they were trained for, the weights file last replaced atomically."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in lens.state_dict().items()}
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    (folder / META).write_text(json.dumps({"model": lens.identity, "trained": lens.trained}, indent=1))
    tmp.replace(folder / WEIGHTS)
    return folder / WEIGHTS


def read_lens(folder: Path, loaded) -> TunedLens:
    """The lens saved in ``folder``; ValueError when it was trained for another model."""
    from safetensors.torch import load_file

    meta_path, weights = folder / META, folder / WEIGHTS
    if not weights.is_file() or not meta_path.is_file():
        raise ValueError(f"No tuned lens in {folder}.")
    meta = json.loads(meta_path.read_text())
    key = model_key(loaded)
    if meta.get("model") != key:
        trained_for = meta.get("model", {})
        name = trained_for.get("adapter") or trained_for.get("base") or "another model"
        raise ValueError(f"This tuned lens was trained for '{name}', not '{loaded.identity.name}'; train one for it.")
    lens = TunedLens(key["num_layers"], key["hidden_size"], key)
    lens.load_state_dict(load_file(str(weights)))
    lens.trained = meta.get("trained", lens.trained)
    return lens.to(loaded.device).eval()


def find_lens(loaded) -> TunedLens | None:
    """The loaded model's saved lens, or None when none was trained for it."""
    folder = lens_folder(loaded)
    return read_lens(folder, loaded) if (folder / WEIGHTS).is_file() else None
