"""What an attribution is: its settings (frozen, hashable: a cache key) and its results, one moment or many.

Scores explain the *target score* of a moment: the log-probability of the chosen token given its prefix, or,
with a contrast token B, ``log p(chosen) - log p(B)`` ("why this token rather than B"). A position's score is
that position's share of the target score under the method (gradient methods sum the embedding dimensions
of their per-element attributions to get one number per token, as the authors of Integrated Gradients do).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

PROMPT = "prompt"
PREFIX = "prefix"


@dataclass(frozen=True)
class AttributionSettings:
    """How to attribute. Frozen, so ``(ids, moment, method, settings)`` works as a cache key.

    - ``prompt_only``: attribute to the prompt positions only (as Captum's LLM wrappers do); otherwise to
      every position before the target, the tokens the model generated itself included.
    - ``n_steps`` / ``integration``: Integrated Gradients' steps and quadrature (Captum's names:
      ``"gausslegendre"``, ``"riemann_trapezoid"``...).
    - ``baseline_id``: the token that stands in for an attributed position, in Feature Ablation (the ablated
      token) and Integrated Gradients (the path starts at this token's embedding). None picks the tokenizer's
      unknown token, else its pad token, else its end-of-sequence token, else id 0 (Captum's default, "usually
      UNK"); the result's settings record the id actually used.
    - ``skip_token_ids``: positions holding these ids are never perturbed and score 0 (Captum's
      ``skip_tokens``; e.g. a BOS token).
    - ``max_batch_tokens``: memory bound: at most this many token positions go through the model in one
      forward pass (batches of interpolation steps or ablated copies are cut to fit). It changes timings
      only, so it is left out of equality and hashing.
    """

    prompt_only: bool = False
    n_steps: int = 32
    integration: str = "gausslegendre"
    baseline_id: int | None = None
    skip_token_ids: tuple[int, ...] = ()
    max_batch_tokens: int = field(default=1024, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.n_steps, int) or self.n_steps < 2:
            raise ValueError(f"n_steps must be a whole number >= 2, got {self.n_steps!r}.")
        if not isinstance(self.max_batch_tokens, int) or self.max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be a whole number >= 1, got {self.max_batch_tokens!r}.")
        if self.baseline_id is not None and (not isinstance(self.baseline_id, int) or self.baseline_id < 0):
            raise ValueError(f"baseline_id must be a token id (>= 0) or None, got {self.baseline_id!r}.")
        object.__setattr__(self, "skip_token_ids", tuple(int(i) for i in self.skip_token_ids))

    @property
    def positions(self) -> str:
        return PROMPT if self.prompt_only else PREFIX

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AttributionSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "skip_token_ids" else v) for k, v in data.items() if k in known})


@dataclass(eq=False)
class Attribution:
    """One moment's attribution: ``scores[j]`` is position j's share of the target score.

    ``scores`` is float32 ``[positions]``: the prompt (``positions == "prompt"``) or the whole prefix before
    the target (``"prefix"``, length ``target_position``). ``target_position`` indexes the full id sequence
    (prompt + generated); a trace's moment i has ``target_position = prompt_length + i``. ``delta`` is
    Integrated Gradients' completeness gap, ``sum(scores) - (f(input) - f(baseline))``; None for the others.
    """

    method: str
    target_position: int
    target_id: int
    contrast_id: int | None
    scores: np.ndarray
    positions: str
    prompt_length: int
    target_score: float
    delta: float | None
    seconds: float
    settings: AttributionSettings

    @property
    def moment_index(self) -> int:
        return self.target_position - self.prompt_length

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["settings"] = self.settings.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Attribution:
        data = dict(data)
        data["scores"] = np.asarray(data["scores"], dtype=np.float32)
        data["settings"] = AttributionSettings.from_dict(data["settings"])
        return cls(**data)


@dataclass(eq=False)
class AttributionMatrix:
    """Attributions of several moments, ``[moments, positions]``, for a view that draws them all at once.

    Row m explains the token at ``target_positions[m]``. Columns are the prompt (``positions == "prompt"``) or
    every position up to the last target's prefix (``"prefix"``); ``scores[m, j]`` is NaN where position j is
    not before row m's target (it is not an input of that moment), so NaN means "no value", never 0.
    ``contrast_ids`` holds -1 for rows without a contrast token; ``deltas`` is None for methods without one.
    """

    method: str
    target_positions: np.ndarray  # int64 [moments]
    target_ids: np.ndarray  # int64 [moments]
    contrast_ids: np.ndarray  # int64 [moments], -1 = none
    scores: np.ndarray  # float32 [moments, positions]
    positions: str
    prompt_length: int
    target_scores: np.ndarray  # float32 [moments]
    deltas: np.ndarray | None  # float32 [moments]
    seconds: float
    settings: AttributionSettings

    def __len__(self) -> int:
        return len(self.target_positions)

    @property
    def moment_indices(self) -> np.ndarray:
        return self.target_positions - self.prompt_length

    def row(self, m: int) -> Attribution:
        """Row m as a one-moment Attribution (scores cut to the positions it covers; seconds shared evenly)."""
        position = int(self.target_positions[m])
        width = self.prompt_length if self.positions == PROMPT else position
        contrast = int(self.contrast_ids[m])
        return Attribution(
            method=self.method,
            target_position=position,
            target_id=int(self.target_ids[m]),
            contrast_id=None if contrast < 0 else contrast,
            scores=self.scores[m, :width].copy(),
            positions=self.positions,
            prompt_length=self.prompt_length,
            target_score=float(self.target_scores[m]),
            delta=None if self.deltas is None else float(self.deltas[m]),
            seconds=self.seconds / max(len(self), 1),
            settings=self.settings,
        )

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["settings"] = self.settings.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AttributionMatrix:
        data = dict(data)
        for name in ("target_positions", "target_ids", "contrast_ids"):
            data[name] = np.asarray(data[name], dtype=np.int64)
        data["scores"] = np.asarray(data["scores"], dtype=np.float32)
        data["target_scores"] = np.asarray(data["target_scores"], dtype=np.float32)
        if data.get("deltas") is not None:
            data["deltas"] = np.asarray(data["deltas"], dtype=np.float32)
        data["settings"] = AttributionSettings.from_dict(data["settings"])
        return cls(**data)
