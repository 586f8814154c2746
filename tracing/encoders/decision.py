"""An encoder's one moment: a sequence classifier's decision on a text (and an optional second segment).

`load_classifier` loads any ``*ForSequenceClassification`` folder or hub id, a classifier adapter from the
Fine-tune page, or a catalog encoder with a fresh head; `encode` turns the text into the forward's keywords;
`decide` runs one forward through the seam (eager attention) and returns a `Decision`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from model_zoo import ModelLoadError, load_model, resolve
from model_zoo.kinds import ENCODER
from tracing.core.tokens import readable_tokens
from tracing.encoders.results import Decision

FRESH_HEAD_LABELS = 2
FRESH_HEAD_SEED = 0
CLASSIFIER_SUFFIX = "ForSequenceClassification"


def checkpoint_architectures(entry) -> list[str]:
    """The ``architectures`` a folder or hub checkpoint's config names (empty for other entries)."""
    return list(_checkpoint_config(entry).get("architectures") or [])


def _checkpoint_config(entry) -> dict:
    """The config.json of a folder or hub checkpoint (empty when it cannot be read offline)."""
    if entry.source == "local":
        try:
            return json.loads((Path(entry.path) / "config.json").read_text())
        except (OSError, json.JSONDecodeError):
            return {}
    if entry.source == "hub":
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(entry.repo, trust_remote_code=False).to_dict()
        except OSError:
            return {}
    return {}


def load_classifier(model_id: str, device: str | None = None, *, fresh_labels: int = FRESH_HEAD_LABELS, progress=None):
    """A sequence classifier by zoo id, folder or hub id.

    A checkpoint saved as ``*ForSequenceClassification`` loads with its own head and labels; a classifier
    adapter with its trained head and label names; a bare encoder (``minilm-l6``) gets an untrained head of
    ``fresh_labels`` classes, drawn from a fixed seed so that every load of it gives the same numbers (an
    adapter's base, loaded on its own, gets that same untrained head). ``progress``: `load_model`'s."""
    entry = resolve(model_id)
    num_labels = None
    if entry.source in ("local", "hub"):
        config = _checkpoint_config(entry)
        architectures = config.get("architectures") or []
        if not any(name.endswith(CLASSIFIER_SUFFIX) for name in architectures):
            raise ModelLoadError(
                f"'{model_id}' is not a sequence classifier (its checkpoint is {', '.join(architectures) or 'unknown'});"
                f" give a *{CLASSIFIER_SUFFIX} folder or hub id, a classifier adapter, or 'minilm-l6'."
            )
        entry = replace(entry, kind=ENCODER.name)
        num_labels = len(config.get("id2label") or {}) or int(config.get("num_labels", FRESH_HEAD_LABELS))
    elif entry.kind != ENCODER.name:
        raise ModelLoadError(f"'{model_id}' is a {entry.kind} model, not an encoder: pick a classifier.")
    elif entry.source != "adapter":
        num_labels = fresh_labels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FRESH_HEAD_SEED)
        return load_model(entry, device=device, num_labels=num_labels, progress=progress)


def label_names(loaded) -> list[str]:
    """The classes in index order (``config.id2label``; the adapter's names for a fine-tune)."""
    config = loaded.base_model.config
    names = getattr(config, "id2label", None) or {}
    return [str(names.get(i, names.get(str(i), f"LABEL_{i}"))) for i in range(int(config.num_labels))]


def check_targets(count: int, target: int, contrast: int | None, what: str = "class") -> None:
    """``target`` and ``contrast`` (None: none) name two different ones of ``count`` classes (or token ids)."""
    for name, value in ((what, target), (f"contrast {what}", contrast)):
        if value is not None and not 0 <= int(value) < count:
            raise ValueError(f"{name} {value} is not a {what} of this model (0 to {count - 1}).")
    if contrast is not None and int(contrast) == int(target):
        raise ValueError(f"The contrast {what} must differ from the {what} explained.")


def check_classifier(loaded) -> None:
    name = type(loaded.base_model).__name__
    if not name.endswith(CLASSIFIER_SUFFIX):
        raise ValueError(f"'{loaded.id}' is a {name}, not a sequence classifier; load it with load_classifier.")


@dataclass
class EncodedText:
    """The forward's keywords for one text (batch of one) and each token's segment."""

    keywords: dict  # input_ids, attention_mask and, where the model takes them, token_type_ids
    segments: np.ndarray  # int64 [tokens]

    @property
    def ids(self) -> torch.Tensor:
        return self.keywords["input_ids"]


def encode(loaded, text: str, pair: str | None = None) -> EncodedText:
    """The tokenizer's reading of ``text`` (and ``pair``), cut to the model's context."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Give a non-empty text to classify.")
    pair = pair if pair and pair.strip() else None
    limit = min(loaded.max_context or 512, getattr(loaded.tokenizer, "model_max_length", 512) or 512)
    encoding = loaded.tokenizer(text, pair, truncation=True, max_length=limit, return_tensors="pt")
    sequence_ids = encoding.sequence_ids(0) if hasattr(encoding, "sequence_ids") else None
    length = encoding["input_ids"].shape[1]
    # the second segment runs from its first token to the end (its closing separator included)
    segments = np.maximum.accumulate(np.array([1 if s == 1 else 0 for s in (sequence_ids or [0] * length)]))
    return EncodedText(model_inputs(loaded, encoding), segments.astype(np.int64))


def model_inputs(loaded, encoding) -> dict:
    """A tokenizer's output as the forward's keywords on the model's device: ids, mask and, where the model
    takes them and has that many segment types, token type ids."""
    keywords = {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}
    types = encoding.get("token_type_ids")
    type_vocab = int(getattr(loaded.base_model.config, "type_vocab_size", 0) or 0)
    if types is not None and "token_type_ids" in loaded.forward_keywords and int(types.max()) < type_vocab:
        keywords["token_type_ids"] = types
    return {k: v.to(loaded.device) for k, v in keywords.items()}


def decide(loaded, text: str, pair: str | None = None) -> Decision:
    """The classifier's decision: every class's logit and every layer's attention (eager)."""
    check_classifier(loaded)
    encoded = encode(loaded, text, pair)
    started = time.perf_counter()
    out = loaded.forward(attentions=True, attention="eager", **encoded.keywords)
    seconds = time.perf_counter() - started
    ids = encoded.ids[0].cpu()
    attention = torch.stack([a[0] for a in out.attentions]).to("cpu", torch.float16).numpy()
    return Decision(
        model=loaded.identity.name,
        architecture=loaded.architecture,
        text=text,
        pair=pair if pair and pair.strip() else None,
        tokens=readable_tokens(loaded.tokenizer, ids.tolist()),
        ids=ids.numpy().astype(np.int64),
        segments=encoded.segments,
        labels=label_names(loaded),
        logits=out.logits[0].float().cpu().numpy(),
        attention=attention,
        seconds=seconds,
    )
