"""Checkpoints of a training job: what it takes to resume exactly where a run stopped, and the adapter at each.

A checkpoint is a folder ``<checkpoint dir>/step-NNNNNN/`` holding the adapter as peft saves it (so a probe's
trace at that step can be read again with it) and, in the latest checkpoint only, ``training_state.pt``:
the optimizer and scheduler states, the loop's position (step, epoch, batch within the epoch), its counters
and every random generator's state. Folders are written under a temporary name and renamed, so a job killed
while saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

STATE_FILE = "training_state.pt"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class LoopState:
    """Where the training loop is: steps done, the epoch, batches of that epoch done, and running totals."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    train_seconds: float = 0.0
    last_loss: float = float("nan")
    last_tokens: int = 0


def checkpoint_folder(root: str | Path, step: int) -> Path:
    return Path(root) / f"step-{step:06d}"


def checkpoint_steps(root: str | Path) -> list[int]:
    """Steps with a saved adapter, in order."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(int(p.name[5:]) for p in root.glob("step-*") if (p / ADAPTER_WEIGHTS).exists())


def latest_resumable(root: str | Path) -> Path | None:
    """The latest checkpoint folder that holds a training state, or None."""
    for step in reversed(checkpoint_steps(root)):
        folder = checkpoint_folder(root, step)
        if (folder / STATE_FILE).exists():
            return folder
    return None


def _rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    root: str | Path, model, optimizer, scheduler, state: LoopState, method_state: dict | None = None
) -> Path:
    """Writes the checkpoint of ``state.step`` (``model`` unwrapped, a peft model; ``method_state``: what the
    adapter method carries between steps, e.g. AdaLoRA's rank allocator) and drops the training state of
    older checkpoints, whose adapters stay."""
    final = checkpoint_folder(root, state.step)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    torch.save(
        {
            "loop": asdict(state),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_states(),
            "method": method_state,
        },
        tmp / STATE_FILE,
    )
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for step in checkpoint_steps(root):
        if step != state.step:
            (checkpoint_folder(root, step) / STATE_FILE).unlink(missing_ok=True)
    return final


def load_adapter_weights(model, folder: str | Path) -> None:
    """Puts a checkpoint's adapter weights into ``model`` (a peft model built with the same settings)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(Path(folder) / ADAPTER_WEIGHTS)))


def restore_training_state(folder: str | Path, optimizer, scheduler, restore_method=None) -> LoopState:
    """Loads the optimizer, scheduler and random states saved in ``folder`` (and hands the adapter method's
    own state to ``restore_method``, when both exist); returns the loop's position."""
    saved = torch.load(Path(folder) / STATE_FILE, weights_only=False)  # our own file, written above
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    _set_rng_states(saved["rng"])
    if restore_method is not None:
        if saved.get("method") is None:
            raise ValueError(f"{folder} keeps no state of the adapter method (an older checkpoint): start anew")
        restore_method(saved["method"])
    return LoopState(**saved["loop"])
