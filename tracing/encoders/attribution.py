"""Attributions of a classifier's decision to its input tokens, by the project's attribution methods (names,
labels and settings of `tracing.inspection.attribution`) computed with Captum over the encoder's embeddings.

The explained score is ``log p(label)``, or ``logit(label) - logit(contrast)`` ("this class rather than that
one"). Integrated Gradients and Feature Ablation replace every non-special token by the baseline token
(the registry's default, unk, else pad; specials stay, so they score 0); Integrated Gradients runs on
the word embeddings and reports its completeness gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from captum.attr import FeatureAblation, IntegratedGradients, LayerGradientXActivation, Saliency

from tracing.encoders.decision import EncodedText, check_classifier, check_targets, encode, label_names
from tracing.encoders.results import ENCODER_METHOD_NAMES, EncoderAttribution
from tracing.inspection.attribution import AttributionSettings
from tracing.inspection.attribution.targets import resolve_baseline_id


class ClassScore:
    """The explained score of one text, as a function of its word embeddings or of its token ids (rows of
    a batch), each a forward through the seam with gradients."""

    def __init__(self, loaded, encoded: EncodedText, label: int, contrast: int | None, position: int | None) -> None:
        self.loaded, self.encoded, self.label, self.contrast = loaded, encoded, label, contrast
        self.position = position  # a masked LM's masked token: its logits over the vocabulary are scored
        self.embedding = loaded.model.get_input_embeddings()
        self.others = {k: v for k, v in encoded.keywords.items() if k != "input_ids"}

    def _score(self, logits: torch.Tensor) -> torch.Tensor:
        logits = (logits if self.position is None else logits[:, self.position]).float()
        if self.contrast is None:
            return logits.log_softmax(-1)[:, self.label]
        return logits[:, self.label] - logits[:, self.contrast]

    def _rows(self, count: int) -> dict:
        return {k: v.expand(count, -1) for k, v in self.others.items()}

    def from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        out = self.loaded.forward(inputs_embeds=embeddings, gradients=True, **self._rows(embeddings.shape[0]))
        return self._score(out.logits)

    def from_ids(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.loaded.forward(ids, gradients=True, **self._rows(ids.shape[0]))
        return self._score(out.logits)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.embedding(ids)


def perturbable(loaded, ids: torch.Tensor) -> torch.Tensor:
    """bool ``[tokens]``: the positions a method may replace (every token but the tokenizer's specials)."""
    specials = torch.tensor(sorted(loaded.tokenizer.all_special_ids), dtype=ids.dtype, device=ids.device)
    return ~torch.isin(ids, specials)


def baseline_ids(loaded, ids: torch.Tensor, baseline: int) -> torch.Tensor:
    """``ids`` ``[1, tokens]`` with every perturbable position holding the baseline token."""
    out = ids.clone()
    out[0, perturbable(loaded, ids[0])] = baseline
    return out


def _integrated_gradients(score: ClassScore, settings: AttributionSettings):
    ids = score.encoded.ids
    base = baseline_ids(score.loaded, ids, settings.baseline_id)
    inputs, baselines = score.embed(ids), score.embed(base)
    attributions = IntegratedGradients(score.from_embeddings).attribute(
        inputs,
        baselines=baselines,
        n_steps=settings.n_steps,
        method=settings.integration,
        internal_batch_size=max(1, settings.max_batch_tokens // ids.shape[1]),
    )
    scores = attributions.sum(-1)[0]
    with torch.no_grad():
        ends = score.from_ids(torch.cat([ids, base]))
    return scores, float(scores.sum() - (ends[0] - ends[1]))


def _input_x_gradient(score: ClassScore, settings: AttributionSettings):
    attributions = LayerGradientXActivation(score.from_ids, score.embedding).attribute(score.encoded.ids)
    return attributions.sum(-1)[0], None


def _saliency(score: ClassScore, settings: AttributionSettings):
    inputs = score.embed(score.encoded.ids).requires_grad_(True)
    gradients = Saliency(score.from_embeddings).attribute(inputs, abs=True)
    return torch.linalg.vector_norm(gradients, dim=-1)[0], None


def _feature_ablation(score: ClassScore, settings: AttributionSettings):
    ids = score.encoded.ids
    columns = torch.nonzero(perturbable(score.loaded, ids[0])).squeeze(1)
    scores = torch.zeros(ids.shape[1])
    if len(columns) == 0:
        return scores, None
    originals = ids[0, columns]

    def forward(present: torch.Tensor) -> torch.Tensor:
        rows = ids.repeat(present.shape[0], 1)
        rows[:, columns] = torch.where(present.bool(), originals, settings.baseline_id)
        return score.from_ids(rows)

    with torch.no_grad():
        ablated = FeatureAblation(forward).attribute(
            torch.ones((1, len(columns)), dtype=torch.long, device=ids.device),
            baselines=0,
            perturbations_per_eval=max(1, settings.max_batch_tokens // ids.shape[1]),
        )
    scores[columns.cpu()] = ablated[0].float().cpu()
    return scores, None


# The project's attribution methods (by their registered names) as they run on an encoder's decision.
ENCODER_METHODS: dict[str, Callable] = dict(
    zip(ENCODER_METHOD_NAMES, (_integrated_gradients, _input_x_gradient, _saliency, _feature_ablation), strict=True)
)


def attribute_decision(
    loaded,
    text: str,
    label: int,
    method: str = "integrated_gradients",
    *,
    pair: str | None = None,
    contrast: int | None = None,
    settings: AttributionSettings | None = None,
) -> EncoderAttribution:
    """Each input token's share of ``log p(label)`` (or of ``logit(label) - logit(contrast)``)."""
    check_classifier(loaded)
    check_targets(len(label_names(loaded)), label, contrast)
    return attribute_score(loaded, encode(loaded, text, pair), label, method, contrast=contrast, settings=settings)


def attribute_score(
    loaded,
    encoded: EncodedText,
    label: int,
    method: str,
    *,
    contrast: int | None = None,
    settings: AttributionSettings | None = None,
    position: int | None = None,
) -> EncoderAttribution:
    """The core over an encoded text: ``label`` and ``contrast`` index the classifier's classes, or, with
    ``position`` (a masked LM's masked token), the vocabulary at that position."""
    if method not in ENCODER_METHODS:
        raise ValueError(f"Unknown attribution method {method!r} for an encoder; known: {', '.join(ENCODER_METHODS)}.")
    settings = settings or AttributionSettings()
    settings = replace(settings, baseline_id=resolve_baseline_id(loaded.tokenizer, settings))
    score = ClassScore(loaded, encoded, int(label), None if contrast is None else int(contrast), position)
    started = time.perf_counter()
    scores, delta = ENCODER_METHODS[method](score, settings)
    with torch.no_grad():
        target = float(score.from_ids(score.encoded.ids)[0])
    return EncoderAttribution(
        method=method,
        label=int(label),
        contrast=score.contrast,
        scores=scores.detach().float().cpu().numpy().astype(np.float32),
        target_score=target,
        delta=delta,
        baseline_id=int(settings.baseline_id),
        seconds=time.perf_counter() - started,
    )
