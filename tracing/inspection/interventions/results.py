"""The results of interventions at a moment, as typed data the components draw. Torch-free.

Each result saves to JSON and loads back equal (`to_json` / `from_json`): arrays keep their dtype and shape.
Shapes are named beside each field; "layers" counts decoder layers, "heads" query heads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

import numpy as np


@dataclass
class Contributions:
    """The direct contribution of every part of the residual stream to one logit at a moment (or to
    ``logit(target) - logit(contrast)``), through the final norm with its scale frozen at its actual value.

    The parts add up to ``logit``: ``embeddings + heads.sum() + attention_bias.sum() + mlps.sum() +
    output_bias``; ``logit`` is the model's own number, ``gap`` how far the sum is from it.
    """

    moment_index: int
    target_id: int
    target_token: str
    contrast_id: int | None
    contrast_token: str | None
    embeddings: float
    heads: np.ndarray  # float32 [layers, heads]
    attention_bias: np.ndarray  # float32 [layers]: the output projection's bias (zeros without one)
    mlps: np.ndarray  # float32 [layers]
    output_bias: float  # the unembedding's bias (0 without one)
    logit: float  # the model's logit (difference) at the moment
    norm_scale: float  # 1 / RMS of the final residual, the frozen factor of the final norm
    seconds: float = 0.0

    @property
    def total(self) -> float:
        """The sum of every part (in float64)."""
        parts = [self.heads.astype(np.float64).sum(), self.attention_bias.astype(np.float64).sum()]
        return float(self.embeddings + sum(parts) + self.mlps.astype(np.float64).sum() + self.output_bias)

    @property
    def gap(self) -> float:
        return self.total - self.logit

    def ranked(self, count: int = 8) -> list[tuple[str, float]]:
        """The ``count`` parts with the largest magnitude, largest first: ("head 3.4", +1.2), ("MLP 7", ...)."""
        named = [("embeddings", self.embeddings)]
        named += [(f"head {layer}.{head}", float(v)) for (layer, head), v in np.ndenumerate(self.heads)]
        named += [(f"MLP {layer}", float(v)) for layer, v in enumerate(self.mlps)]
        return sorted(named, key=lambda item: -abs(item[1]))[:count]


@dataclass
class InterventionResult:
    """One intervention at a moment: the moment's token before and after, and the new top-k."""

    moment_index: int
    intervention: dict  # the spec's to_dict()
    label: str
    target_id: int
    target_token: str
    clean_log_prob: float
    log_prob: float
    clean_rank: int
    rank: int
    top_ids: np.ndarray  # int64 [k], under the intervention
    top_probs: np.ndarray  # float32 [k]
    top_tokens: list[str]
    clean_top_ids: np.ndarray  # int64 [k], without it
    clean_top_probs: np.ndarray  # float32 [k]
    seconds: float = 0.0

    @property
    def delta(self) -> float:
        """Change in log p(the moment's token): negative when the intervention took support away."""
        return self.log_prob - self.clean_log_prob


@dataclass
class AblationSweep:
    """Every head and every MLP ablated in turn (each alone) at one moment: log p of the moment's token."""

    moment_index: int
    target_id: int
    target_token: str
    method: str
    scope: str
    clean_log_prob: float
    heads: np.ndarray  # float32 [layers, heads]: log p with that head ablated
    mlps: np.ndarray  # float32 [layers]: log p with that MLP ablated
    head_ranks: np.ndarray  # int64 [layers, heads]
    mlp_ranks: np.ndarray  # int64 [layers]
    seconds: float = 0.0

    @property
    def head_deltas(self) -> np.ndarray:
        return self.heads - np.float32(self.clean_log_prob)

    @property
    def mlp_deltas(self) -> np.ndarray:
        return self.mlps - np.float32(self.clean_log_prob)


@dataclass
class Patching:
    """Activation patching at a moment: the clean run's residual stream (the input of each layer) written into
    the corrupted run at one (layer, position) at a time; ``metric`` is the corrupted run's score then.

    The score is log p(target), or log p(target) - log p(contrast) with a contrast. ``restored`` is the share
    of the clean-vs-corrupted difference each patch restores (1 = all of it). Positions before the first
    edited token are the same in both runs, so patching there changes nothing; they are left out.
    """

    moment_index: int
    target_id: int
    target_token: str
    contrast_id: int | None
    layers: np.ndarray  # int64 [rows]: the layer whose input is patched
    positions: np.ndarray  # int64 [columns]: absolute positions, from the first edited one to the moment's
    changed: np.ndarray  # int64: the positions whose tokens the edit changed
    clean_tokens: list[str]  # readable, the whole clean prefix
    corrupted_tokens: list[str]  # readable, the whole corrupted prefix
    clean_metric: float
    corrupted_metric: float
    metric: np.ndarray  # float32 [rows, columns]
    seconds: float = 0.0

    @property
    def difference(self) -> float:
        return self.clean_metric - self.corrupted_metric

    @property
    def restored(self) -> np.ndarray:
        """float32 [rows, columns]; NaN everywhere when the edit changed the score by (almost) nothing."""
        if abs(self.difference) < 1e-6:
            return np.full_like(self.metric, np.nan)
        return ((self.metric - self.corrupted_metric) / self.difference).astype(np.float32)


@dataclass
class Commitment:
    """For every moment of a trace and every layer, the logit-lens rank of the moment's token (one
    teacher-forced pass). Column 0 is the embeddings, the last column the model's own output.

    ``deciding_layer[m]`` is the column from which the token stays the top guess to the output, or -1 when
    it is not the model's top choice at the output (a sampled token).
    """

    layer_names: list[str]  # [layers + 1]
    token_ids: np.ndarray  # int64 [moments]
    ranks: np.ndarray  # int64 [moments, layers + 1]
    probs: np.ndarray  # float32 [moments, layers + 1]
    deciding_layer: np.ndarray  # int64 [moments]
    seconds: float = 0.0


def _encode(value):
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    return value


def _decode(value):
    if isinstance(value, dict) and "__array__" in value:
        return np.asarray(value["__array__"], dtype=value["dtype"]).reshape(value["shape"])
    return value


def to_json(result) -> str:
    """One result as JSON, its kind named (arrays with their dtype and shape)."""
    body = {field.name: _encode(getattr(result, field.name)) for field in fields(result)}
    return json.dumps({"kind": type(result).__name__, "result": body}, ensure_ascii=False)


RESULT_TYPES = {cls.__name__: cls for cls in (Contributions, InterventionResult, AblationSweep, Patching, Commitment)}


def from_json(text: str):
    """The result `to_json` wrote."""
    data = json.loads(text)
    cls = RESULT_TYPES.get(data.get("kind"))
    if cls is None:
        raise ValueError(f"not an intervention result: kind {data.get('kind')!r}")
    return cls(**{name: _decode(value) for name, value in data["result"].items()})
