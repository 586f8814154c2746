"""What the Classify page shares with the engine: the process's classifiers (loaded once, shared by every
session, as `page_glue.models` shares decoders) and each view of a decision computed on request and kept per
process (`page_glue.intervention_cache.remembered`), keyed by model, text, pair and the view's settings."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from model_zoo import ModelLoadError, load_catalog, resolve
from model_zoo.device import use_threads_beside_a_server
from model_zoo.kinds import ENCODER
from model_zoo.shared_loads import SharedModels
from page_glue.intervention_cache import remembered
from page_glue.models import wait_showing_progress
from tracing.encoders.results import (
    Decision,
    EncoderAblation,
    EncoderAttribution,
    EncoderContributions,
    MaskedPrediction,
)
from tracing.experiments.classifier_evaluation import ClassifierEvaluation
from tracing.inspection.attribution import AttributionSettings

CLASSIFIERS = SharedModels(
    lambda model_id, progress: _load(model_id, progress), keep=3, before_load=use_threads_beside_a_server
)


CLASSES = " with classes: "  # a base asked for with as many classes as its fine-tune: "<id> with classes: 3"


def _load(key: str, progress):
    from tracing.encoders.decision import FRESH_HEAD_LABELS, load_classifier
    from tracing.encoders.masked import load_masked_lm

    model_id, _, count = key.partition(CLASSES)
    if is_masked_lm(model_id):
        return load_masked_lm(model_id, progress=progress)
    return load_classifier(model_id, fresh_labels=int(count or FRESH_HEAD_LABELS), progress=progress)


CLASSIFY_PAGE = "pages/classify.py"
PENDING_OPEN = "cls_pending_open"  # (model id, text, pair) the Classify page opens before it draws its widgets


def ask_to_open(model_id: str, text: str, pair: str | None) -> None:
    """Asks the Classify page to open ``text`` (and ``pair``) with ``model_id`` on its next run."""
    st.session_state[PENDING_OPEN] = (model_id, text, pair)


def take_pending_open() -> tuple[str, str, str | None] | None:
    """The text a button asked the Classify page to open (once), or None."""
    return st.session_state.pop(PENDING_OPEN, None)


def is_masked_lm(model_id: str) -> bool:
    """Whether ``model_id`` names a ``*ForMaskedLM`` folder or hub checkpoint."""
    from tracing.encoders.decision import checkpoint_architectures
    from tracing.encoders.masked import MASKED_SUFFIX

    try:
        return any(name.endswith(MASKED_SUFFIX) for name in checkpoint_architectures(resolve(model_id)))
    except ModelLoadError:
        return False


def base_key(base: str, classes: int) -> str:
    """The id under which a fine-tune's base is loaded with an (untrained) head of the fine-tune's classes."""
    return f"{base}{CLASSES}{classes}"


def classifier_ids() -> list[str]:
    """The zoo's encoders: the offline one and every classifier adapter a fine-tune registered."""
    try:
        return [entry.id for entry in load_catalog() if entry.kind == ENCODER.name]
    except (OSError, ValueError):
        return []


def base_of(model_id: str) -> str | None:
    """The base a classifier adapter was trained from (None for a model that is no adapter)."""
    try:
        entry = resolve(model_id)
    except ModelLoadError:
        return None
    return entry.base if entry.source == "adapter" else None


def get_classifier(model_id: str):
    """The loaded classifier (its load's progress shown while it runs); None with a shown error."""
    try:
        job = CLASSIFIERS.request(model_id)
        if not job.done:
            wait_showing_progress(job, slow=resolve(model_id.partition(CLASSES)[0]).needs_download)
        return job.result()
    except ModelLoadError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def decision_for(model_id: str, loaded, text: str, pair: str | None) -> Decision:
    from tracing.encoders.decision import decide

    return remembered("decision", (model_id, text, pair), lambda: decide(loaded, text, pair))


# Integrated Gradients' steps on the page: on the fine-tuned minilm-l6 the completeness gap of a 22-token
# review was -0.73 with 32 steps, -0.003 with 64 and 0.0000 with 128 (Gauss-Legendre).
IG_STEPS = (16, 32, 64, 128)
DEFAULT_IG_STEPS = 64


def attribution_for(
    model_id: str,
    loaded,
    text: str,
    pair: str | None,
    label: int,
    method: str,
    contrast: int | None,
    steps: int = DEFAULT_IG_STEPS,
) -> EncoderAttribution:
    from tracing.encoders.attribution import attribute_decision

    settings = AttributionSettings(n_steps=steps)
    return remembered(
        "encoder attribution",
        (model_id, text, pair, label, method, contrast, steps),
        lambda: attribute_decision(loaded, text, label, method, pair=pair, contrast=contrast, settings=settings),
    )


def contributions_for(
    model_id: str, loaded, text: str, pair: str | None, label: int, contrast: int | None
) -> EncoderContributions:
    from tracing.encoders.contributions import decision_contributions

    return remembered(
        "encoder contributions",
        (model_id, text, pair, label, contrast),
        lambda: decision_contributions(loaded, text, label, pair=pair, contrast=contrast),
    )


def ablation_for(model_id: str, loaded, text: str, pair: str | None, layer: int, head: int | None) -> EncoderAblation:
    from tracing.encoders.ablation import ablate

    return remembered(
        "encoder ablation", (model_id, text, pair, layer, head), lambda: ablate(loaded, text, layer, head, pair=pair)
    )


def masked_for(model_id: str, loaded, text: str) -> MaskedPrediction:
    from tracing.encoders.masked import predict_mask

    return remembered("masked prediction", (model_id, text), lambda: predict_mask(loaded, text))


def masked_attribution_for(model_id: str, loaded, text: str, token: int, method: str, contrast: int | None):
    from tracing.encoders.masked import attribute_mask

    return remembered(
        "masked attribution",
        (model_id, text, token, method, contrast),
        lambda: attribute_mask(loaded, text, token, method, contrast_id=contrast),
    )


def neuron_for(model_id: str, loaded, text: str, pair: str | None):
    from tracing.encoders.neuron import queries_and_keys

    return remembered("encoder neuron", (model_id, text, pair), lambda: queries_and_keys(loaded, text, pair))


def evaluation_for(model_id: str, loaded, raw: bytes, name: str) -> ClassifierEvaluation:
    from tracing.experiments.classifier_evaluation import evaluate_classifier

    digest = hashlib.sha256(raw).hexdigest()
    return remembered("classifier evaluation", (model_id, name, digest), lambda: evaluate_classifier(loaded, raw, name))


def moved_heads(base: Decision, tuned: Decision, count: int = 5) -> list[tuple[int, int, float]]:
    """The heads whose attention changed most from base to fine-tuned on the same text: (layer, head, mean
    total-variation distance between their attention rows), largest first."""
    a, b = base.attention.astype(np.float32), tuned.attention.astype(np.float32)
    distance = 0.5 * np.abs(a - b).sum(-1).mean(-1)  # [layers, heads]
    order = np.argsort(distance, axis=None)[::-1][:count]
    return [(int(i // distance.shape[1]), int(i % distance.shape[1]), float(distance.flat[i])) for i in order]
