"""What a steering sweep found, torch-free (components draw it without the engine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SteeringSweep:
    """Rows = strengths (ascending, 0 among them), columns = moments ``first_moment`` on."""

    label: str
    first_moment: int
    strengths: list[float]  # [rows]
    token_ids: np.ndarray  # int64 [rows, steps]: the greedy choice
    tokens: list[list[str]]  # [rows][steps]
    probs: np.ndarray  # float32 [rows, steps]: its probability under the steered model

    @property
    def baseline(self) -> int:
        return self.strengths.index(0.0)

    @property
    def changed(self) -> np.ndarray:
        """bool ``[rows, steps]``: where a row's token differs from the unsteered row's."""
        return self.token_ids != self.token_ids[self.baseline]

    def first_departures(self) -> list[int | None]:
        """Per row, the first moment whose token differs from the unsteered path's (None: never)."""
        found = []
        for row in self.changed:
            hits = np.flatnonzero(row)
            found.append(int(self.first_moment + hits[0]) if hits.size else None)
        return found
