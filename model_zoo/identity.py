"""Which model made something: a base model id and, for a fine-tune, the adapter on it.

A `LoadedModel` and a `Trace` carry the same value, so every "was this made by that model?" check compares
one thing. Torch-free: traces and the components that draw them import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelIdentity:
    """``base``: the zoo id of the base model; ``adapter``: the zoo id of the LoRA adapter on it, if any."""

    base: str
    adapter: str | None = None

    @property
    def name(self) -> str:
        """The zoo id that loads this model (the adapter's id loads the base with the adapter)."""
        return self.adapter or self.base

    @property
    def label(self) -> str:
        """For people: ``base`` or ``base + adapter``."""
        return self.base + (f" + {self.adapter}" if self.adapter else "")

    def check_made(self, made_by: ModelIdentity, doing: str) -> None:
        """Raises ValueError when something made by ``made_by`` is handed to this model (``doing``: a verb)."""
        if made_by != self:
            raise ValueError(f"This trace was made by '{made_by.name}'; {doing} it with that model, not '{self.name}'.")
