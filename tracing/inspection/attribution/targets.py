"""What is being explained: the target positions of a sequence, their tokens, contrasts and attributed positions.

Position P of ``ids`` is predicted from the prefix ``ids[:P]`` (logits at P - 1); a trace's moment i is
position ``prompt_length + i``. Under a causal mask the positions at or after P cannot change that prediction,
so one forward pass over ``ids[:max(P)]`` serves every target at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from tracing.inspection.attribution.results import AttributionSettings

NO_CONTRAST = -1


def resolve_baseline_id(tokenizer, settings: AttributionSettings) -> int:
    """The baseline token: the setting when given, else unk, pad, eos (first the tokenizer has), else 0."""
    if settings.baseline_id is not None:
        return settings.baseline_id
    for name in ("unk_token_id", "pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int) and value >= 0:
            return value
    return 0


@dataclass(frozen=True)
class Targets:
    """The moments to explain in one sequence. Arrays are int64 ``[targets]``; settings have a resolved baseline."""

    ids: torch.Tensor  # int64 [sequence]
    positions: np.ndarray
    target_ids: np.ndarray
    contrast_ids: np.ndarray  # NO_CONTRAST where none
    prompt_length: int
    settings: AttributionSettings

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def width(self) -> int:
        """How many positions the result covers: the prompt, or everything before the last target."""
        return self.prompt_length if self.settings.prompt_only else int(self.positions.max())

    def attributed(self, length: int) -> torch.Tensor:
        """bool ``[length]``: the positions a method may perturb (prompt or prefix, minus skipped tokens)."""
        ids = self.ids[:length]
        mask = torch.ones(length, dtype=torch.bool, device=ids.device)
        if self.settings.prompt_only:
            mask[self.prompt_length :] = False
        for skip in self.settings.skip_token_ids:
            mask &= ids != skip
        return mask

    def baseline_ids(self, length: int) -> torch.Tensor:
        """int64 ``[length]``: the sequence with every attributed position replaced by the baseline token."""
        ids = self.ids[:length].clone()
        ids[self.attributed(length)] = self.settings.baseline_id
        return ids

    def subset(self, rows: Sequence[int]) -> Targets:
        rows = np.asarray(rows, dtype=np.int64)
        return replace(
            self,
            positions=self.positions[rows],
            target_ids=self.target_ids[rows],
            contrast_ids=self.contrast_ids[rows],
        )

    def covered(self, scores: np.ndarray) -> np.ndarray:
        """float32 ``[targets, width]`` from ``[targets, >= width]`` scores: NaN at or after each target."""
        out = np.array(scores[:, : self.width], dtype=np.float32)
        columns = np.arange(self.width)
        out[columns[None, :] >= self.positions[:, None]] = np.nan
        return out


def make_targets(
    tokenizer,
    ids: Sequence[int],
    positions: Sequence[int],
    *,
    settings: AttributionSettings,
    prompt_length: int | None,
    contrast_ids: Sequence[int | None] | None = None,
    vocab_size: int | None = None,
) -> Targets:
    """Validates the request (ValueError naming the problem) and resolves the baseline token."""
    ids_array = np.asarray(list(ids), dtype=np.int64)
    positions_array = np.asarray(list(positions), dtype=np.int64)
    if ids_array.ndim != 1 or len(ids_array) < 2:
        raise ValueError("Attribution needs a sequence of at least two token ids (a prefix and a target).")
    if positions_array.ndim != 1 or len(positions_array) == 0:
        raise ValueError("Name at least one target position to attribute.")
    if positions_array.min() < 1 or positions_array.max() >= len(ids_array):
        raise ValueError(
            f"Target positions must lie in 1..{len(ids_array) - 1} (a token with a prefix), got "
            f"{positions_array.min()}..{positions_array.max()}."
        )
    if settings.prompt_only:
        if prompt_length is None:
            raise ValueError("prompt_only attribution needs the prompt length.")
        if positions_array.min() < prompt_length:
            raise ValueError("prompt_only attribution explains generated tokens: targets must not lie in the prompt.")
    prompt_length = int(prompt_length) if prompt_length is not None else int(positions_array.min())
    if not 1 <= prompt_length <= len(ids_array):
        raise ValueError(f"prompt_length must be in 1..{len(ids_array)}, got {prompt_length}.")
    contrasts = [NO_CONTRAST if c is None else int(c) for c in (contrast_ids or [None] * len(positions_array))]
    if len(contrasts) != len(positions_array):
        raise ValueError("Give one contrast id (or None) per target position.")
    target_ids = ids_array[positions_array]
    for target, contrast in zip(target_ids, contrasts, strict=True):
        if contrast == target:
            raise ValueError(f"The contrast token ({contrast}) must differ from the token it is contrasted with.")
        if contrast < NO_CONTRAST or (vocab_size is not None and contrast >= vocab_size):
            raise ValueError(f"Contrast id {contrast} is not a token id of this model.")
    baseline = resolve_baseline_id(tokenizer, settings)
    return Targets(
        ids=torch.from_numpy(ids_array),
        positions=positions_array,
        target_ids=target_ids,
        contrast_ids=np.asarray(contrasts, dtype=np.int64),
        prompt_length=prompt_length,
        settings=replace(settings, baseline_id=baseline),
    )
