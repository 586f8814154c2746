"""What a comparison of two models is: two aligned traces of one prompt and how they differ per moment.

Torch-free, so the components that draw a comparison load without the engine; `compare.py` makes them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tracing.core.bundle import load_bundle, save_bundle
from tracing.core.trace import Trace

SIDES = ("a", "b")
DIFF_TOP_K = 10
BUNDLE_KIND = "comparison"


@dataclass
class MomentDifference:
    """How the two models differ at one moment. ``only_in_a`` / ``only_in_b``: ids in one side's top-k only."""

    index: int
    kl_a_b: float  # KL(a || b), nats
    kl_b_a: float  # KL(b || a), nats
    greedy_a: int
    greedy_b: int
    only_in_a: list[int]
    only_in_b: list[int]

    @property
    def greedy_differs(self) -> bool:
        return self.greedy_a != self.greedy_b


@dataclass(eq=False)
class Comparison:
    """Two aligned traces of one prompt: ``lead`` decoded, the other side read the lead's tokens.

    ``own_path`` is the follower's own free generation (None unless asked), and ``first_path_divergence``
    the first moment where it and the lead's generation differ (None: the same tokens throughout).
    """

    lead: str
    trace_a: Trace
    trace_b: Trace
    moments: list[MomentDifference]
    first_greedy_divergence: int | None
    top_k: int = DIFF_TOP_K
    own_path: Trace | None = None
    first_path_divergence: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def follower(self) -> str:
        return "b" if self.lead == "a" else "a"

    def trace(self, side: str) -> Trace:
        return self.trace_a if side == "a" else self.trace_b

    @property
    def kl_a_b(self) -> np.ndarray:
        return np.array([m.kl_a_b for m in self.moments], dtype=np.float64)

    @property
    def kl_b_a(self) -> np.ndarray:
        return np.array([m.kl_b_a for m in self.moments], dtype=np.float64)

    def save(self, path: str | os.PathLike) -> Path:
        traces = {"a": self.trace_a, "b": self.trace_b} | ({"own_path": self.own_path} if self.own_path else {})
        meta = {
            "lead": self.lead,
            "moments": [asdict(m) for m in self.moments],
            "first_greedy_divergence": self.first_greedy_divergence,
            "top_k": self.top_k,
            "first_path_divergence": self.first_path_divergence,
            "info": self.info,
        }
        return save_bundle(path, BUNDLE_KIND, meta, traces)


def load_comparison(path: str | os.PathLike) -> Comparison:
    meta, traces = load_bundle(path, BUNDLE_KIND)
    return Comparison(
        lead=meta["lead"],
        trace_a=traces["a"],
        trace_b=traces["b"],
        moments=[MomentDifference(**m) for m in meta["moments"]],
        first_greedy_divergence=meta["first_greedy_divergence"],
        top_k=meta["top_k"],
        own_path=traces.get("own_path"),
        first_path_divergence=meta["first_path_divergence"],
        info=meta.get("info", {}),
    )


def first_divergence(a: list[int], b: list[int]) -> int | None:
    """The first index where two token sequences differ (one ending first counts); None when equal."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))
