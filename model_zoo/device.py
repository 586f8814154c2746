"""Device and dtype choice: CUDA first, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch


def pick_device(preferred: str | None = None) -> torch.device:
    """The device to run on: ``preferred`` when given, else cuda, then mps, then cpu."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device) -> torch.dtype:
    """float32 on the CPU (exact probabilities; CPU half precision is slow); bfloat16 or float16 on accelerators."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
