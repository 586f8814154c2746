"""Attribution methods by name: adding a method is adding a file with a class under ``@register``.

A method computes the scores of every target of a sequence in one call (``[targets, length]``), so one moment
and all moments of a trace are the same code path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from model_zoo.kinds import get_kind
from tracing.inspection.attribution.targets import Targets


@dataclass
class MethodOutput:
    """Scores ``[targets, length]`` (length >= the positions covered), target scores ``[targets]``, deltas."""

    scores: np.ndarray
    target_scores: np.ndarray
    deltas: np.ndarray | None = None


class AttributionMethod(ABC):
    """One attribution method. Class attributes describe it to the UI; ``check`` says why it cannot run."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    needs_gradients: ClassVar[bool] = True
    needs_attention_weights: ClassVar[bool] = False
    has_delta: ClassVar[bool] = False

    def check(self, loaded) -> None:
        """Raises ValueError, in words for the user, when this method cannot run on ``loaded``'s model."""
        kind = get_kind(loaded.entry.kind)
        if not kind.generates:
            raise ValueError(
                f"{self.label} explains a causal language model's next-token choice; "
                f"'{loaded.id}' is of kind {kind.label}."
            )
        if self.needs_gradients and loaded.model.get_input_embeddings() is None:
            raise ValueError(f"{self.label} needs the model's input embedding layer, which this model does not expose.")

    @abstractmethod
    def run(self, model, targets: Targets) -> MethodOutput:
        """Scores for every target; ``model`` is a `scoring.SessionModel` (its forward is the seam's), called
        with the model's lock held, in eval mode, parameters frozen."""


_METHODS: dict[str, type[AttributionMethod]] = {}


def register(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    """Class decorator: makes the method available by its ``name``."""
    if cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"Two attribution methods are named {cls.name!r}.")
    _METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> AttributionMethod:
    try:
        return _METHODS[name]()
    except KeyError:
        raise ValueError(f"Unknown attribution method {name!r}; known: {', '.join(sorted(_METHODS))}.") from None


def method_names() -> list[str]:
    return sorted(_METHODS)


def methods_for(loaded) -> dict[str, str | None]:
    """Every method with None where it can run on this model, else the reason it cannot (for the UI)."""
    reasons: dict[str, str | None] = {}
    for name in method_names():
        try:
            get_method(name).check(loaded)
            reasons[name] = None
        except ValueError as exc:
            reasons[name] = str(exc)
    return reasons
