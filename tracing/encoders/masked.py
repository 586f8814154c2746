"""A masked LM's one moment: the prediction at its masked token (``[MASK]``, ``<mask>``), the top tokens with
their probabilities, every layer's attention, and attributions of a token there to the input tokens, by the
same methods as a classifier's decision."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from model_zoo import ModelLoadError, load_model, resolve
from model_zoo.kinds import MASKED_LM
from tracing.core.tokens import readable_tokens
from tracing.encoders.attribution import attribute_score
from tracing.encoders.decision import check_targets, checkpoint_architectures, encode
from tracing.encoders.results import EncoderAttribution, MaskedPrediction
from tracing.inspection.attribution import AttributionSettings

MASKED_SUFFIX = "ForMaskedLM"


def load_masked_lm(model_id: str, device: str | None = None, progress=None):
    """A ``*ForMaskedLM`` folder or hub id, with its LM head."""
    entry = resolve(model_id)
    architectures = checkpoint_architectures(entry)
    if not any(name.endswith(MASKED_SUFFIX) for name in architectures):
        raise ModelLoadError(
            f"'{model_id}' is not a masked language model (its checkpoint is {', '.join(architectures) or 'unknown'})."
        )
    return load_model(replace(entry, kind=MASKED_LM.name), device=device, progress=progress)


def _masked_position(loaded, ids: torch.Tensor) -> int:
    tokenizer = loaded.tokenizer
    if not type(loaded.base_model).__name__.endswith(MASKED_SUFFIX):
        raise ValueError(f"'{loaded.id}' is a {type(loaded.base_model).__name__}, not a masked language model.")
    found = torch.nonzero(ids[0] == tokenizer.mask_token_id).flatten().tolist()
    if len(found) != 1:
        raise ValueError(f"Put exactly one {tokenizer.mask_token} in the text (found {len(found)}).")
    return int(found[0])


def predict_mask(loaded, text: str, top_k: int = 10) -> MaskedPrediction:
    """The top ``top_k`` tokens at the text's one masked token, and every layer's attention (eager)."""
    encoded = encode(loaded, text)
    position = _masked_position(loaded, encoded.ids)
    started = time.perf_counter()
    out = loaded.forward(attentions=True, attention="eager", **encoded.keywords)
    seconds = time.perf_counter() - started
    probs, top = out.logits[0, position].float().softmax(-1).topk(top_k)
    ids = encoded.ids[0].cpu()
    return MaskedPrediction(
        model=loaded.identity.name,
        architecture=loaded.architecture,
        text=text,
        tokens=readable_tokens(loaded.tokenizer, ids.tolist()),
        ids=ids.numpy().astype(np.int64),
        position=position,
        top_ids=top.cpu().numpy().astype(np.int64),
        top_tokens=readable_tokens(loaded.tokenizer, top.tolist()),
        top_probs=probs.cpu().numpy().astype(np.float32),
        attention=torch.stack([a[0] for a in out.attentions]).to("cpu", torch.float16).numpy(),
        seconds=seconds,
    )


def attribute_mask(
    loaded,
    text: str,
    token_id: int,
    method: str = "integrated_gradients",
    *,
    contrast_id: int | None = None,
    settings: AttributionSettings | None = None,
) -> EncoderAttribution:
    """Each input token's share of ``log p(token_id)`` at the masked position (or of its logit minus that of
    ``contrast_id``)."""
    encoded = encode(loaded, text)
    position = _masked_position(loaded, encoded.ids)
    check_targets(int(loaded.base_model.config.vocab_size), token_id, contrast_id, what="token id")
    return attribute_score(
        loaded, encoded, token_id, method, contrast=contrast_id, settings=settings, position=position
    )
