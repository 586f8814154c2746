"""Device and dtype choice: CUDA first, then Apple's MPS, then the CPU."""

from __future__ import annotations

import os

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


def use_threads_beside_a_server() -> int:
    """Leaves one core to the web server and the browsers: torch takes one thread fewer than there are CPUs
    (never more than it had, never fewer than one, and nothing changes when OMP_NUM_THREADS is set).

    When torch's threads hold every core, each of its parallel regions waits for the thread the browser
    preempted. On a 2-core machine this is one thread, which for a 135M-parameter model is also faster than
    two (64 tokens in 4.8-5.5 s against 6.0-6.5 s, measured here). Returns the count in use."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))
    return torch.get_num_threads()


def cpu_computes_bfloat16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX tiles), which makes a bfloat16
    autocast about 1.8x as fast as float32 for training (finetune.config.BF16_SPEEDUP); without it bfloat16
    is emulated and slower."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
