"""The results of an encoder's one moment, the decision, as typed data the components draw. Torch-free.

Each result saves to JSON and loads back equal (`to_json` / `from_json`, the interventions' array encoding):
arrays keep their dtype and shape. "layers" counts encoder layers, "heads" attention heads, "tokens" the input
tokens, special tokens included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from tracing.inspection.interventions.results import _decode, to_json  # noqa: F401  (to_json: one writer)

# The attribution methods an encoder runs (names of `tracing.inspection.attribution`'s registry).
ENCODER_METHOD_NAMES = ("integrated_gradients", "input_x_gradient", "saliency", "feature_ablation")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max()
    weights = np.exp(shifted)
    return (weights / weights.sum()).astype(np.float32)


@dataclass
class Decision:
    """A sequence classifier's decision on a text (and an optional second segment): every class's logit and
    probability, and the attention of every layer and head over the input."""

    model: str  # the zoo id that loads the model (its adapter's id for a fine-tune)
    architecture: str | None
    text: str
    pair: str | None
    tokens: list[str]  # readable, one per input token
    ids: np.ndarray  # int64 [tokens]
    segments: np.ndarray  # int64 [tokens]: 0 the text (and specials before it), 1 the second segment
    labels: list[str]  # class names, index order
    logits: np.ndarray  # float32 [labels]
    attention: np.ndarray  # float16 [layers, heads, tokens, tokens], rows the queries
    seconds: float = 0.0

    @property
    def probs(self) -> np.ndarray:
        return softmax(self.logits)

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.logits))

    def label_index(self, label: int | str) -> int:
        """A class given by index or name, checked (ValueError naming the known classes)."""
        if isinstance(label, str) and not label.lstrip("-").isdigit():
            if label not in self.labels:
                raise ValueError(f"class {label!r} is not one of this model's classes: {', '.join(self.labels)}.")
            return self.labels.index(label)
        index = int(label)
        if not 0 <= index < len(self.labels):
            raise ValueError(f"class {index} is not a class of this model (0 to {len(self.labels) - 1}).")
        return index


@dataclass
class EncoderAttribution:
    """Each input token's share of the explained score: ``log p(label)``, or ``logit(label) -
    logit(contrast)`` with a contrast. ``delta`` is Integrated Gradients' completeness gap, ``sum(scores) -
    (f(input) - f(baseline))``; None for the other methods. Special tokens are never perturbed (score 0)."""

    method: str
    label: int  # the class explained (a masked LM's: the token id at the masked position)
    contrast: int | None
    scores: np.ndarray  # float32 [tokens]
    target_score: float
    delta: float | None
    baseline_id: int
    seconds: float = 0.0


@dataclass
class EncoderContributions:
    """The direct contribution of every part of the first token's final vector to ``logit(label)`` (minus
    ``logit(contrast)``): LayerNorms frozen at their actual scales, the head taken along the path from zero.

    The parts add up to the model's number: ``embeddings + heads.sum() + attention_bias.sum() + mlps.sum() +
    norm_bias + head_at_zero == logit``, to within the head path's quadrature.
    """

    label: int
    contrast: int | None
    embeddings: float
    heads: np.ndarray  # float32 [layers, heads]
    attention_bias: np.ndarray  # float32 [layers]: the output dense's bias
    mlps: np.ndarray  # float32 [layers]
    norm_bias: float  # every LayerNorm's bias, carried through the later ones
    head_at_zero: float  # the head's logit (difference) at a zero vector
    logit: float  # the model's own logit (difference)
    note: str = ""
    seconds: float = 0.0

    @property
    def layers(self) -> np.ndarray:
        """float32 [layers]: each layer's attention (its heads and bias) plus its MLP."""
        return (self.heads.sum(1) + self.attention_bias + self.mlps).astype(np.float32)

    @property
    def total(self) -> float:
        parts = [self.heads, self.attention_bias, self.mlps]
        return float(
            self.embeddings + sum(p.astype(np.float64).sum() for p in parts) + self.norm_bias + self.head_at_zero
        )

    @property
    def gap(self) -> float:
        return self.total - self.logit


@dataclass
class EncoderAblation:
    """The decision with some attention removed: one head's output (``head``) or a whole layer's attention
    (``head`` None) zeroed before the output dense, at every position."""

    layer: int
    head: int | None
    logits: np.ndarray  # float32 [labels], under the ablation
    clean_logits: np.ndarray  # float32 [labels]
    seconds: float = 0.0

    @property
    def probs(self) -> np.ndarray:
        return softmax(self.logits)

    @property
    def clean_probs(self) -> np.ndarray:
        return softmax(self.clean_logits)


@dataclass
class MaskedPrediction:
    """A masked LM's one moment: its prediction at the masked position (the top ``k`` tokens)."""

    model: str
    architecture: str | None
    text: str
    tokens: list[str]  # readable, one per input token
    ids: np.ndarray  # int64 [tokens]
    position: int  # the masked token's index
    top_ids: np.ndarray  # int64 [k], most probable first
    top_tokens: list[str]
    top_probs: np.ndarray  # float32 [k]
    attention: np.ndarray  # float16 [layers, heads, tokens, tokens]
    seconds: float = 0.0


RESULT_TYPES = {
    cls.__name__: cls for cls in (Decision, EncoderAttribution, EncoderContributions, EncoderAblation, MaskedPrediction)
}


def from_json(text: str):
    """The result `to_json` (the interventions' writer, which names the kind) wrote."""
    data = json.loads(text)
    cls = RESULT_TYPES.get(data.get("kind"))
    if cls is None:
        raise ValueError(f"not an encoder result: kind {data.get('kind')!r}")
    return cls(**{name: _decode(value) for name, value in data["result"].items()})
