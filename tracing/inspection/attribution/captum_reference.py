"""Captum's own LLM wrappers run on exact token ids: the reference our methods are checked and timed against.

Used as a Captum user would: ``LLMGradientAttribution(LayerIntegratedGradients(model, embeddings), tokenizer)``
and ``LLMAttribution(FeatureAblation(model), tokenizer)`` (with ``forward_in_tokens=False``, whose default
token-by-token path gives wrong numbers under transformers 5), attributing the log-probability of each
target token to the tokens of a ``TextTokenInput``. Captum tokenises text itself, and decoding and
re-encoding need not give back the same ids (nor the same BOS handling), so the input is built from the text
and then pinned to our ids; both sides then attribute the very same sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import (
    FeatureAblation,
    LayerIntegratedGradients,
    LLMAttribution,
    LLMGradientAttribution,
    TextTokenInput,
)


def captum_text_input(
    tokenizer, ids: Sequence[int], *, baseline_id: int, skip_token_ids: Sequence[int] = ()
) -> TextTokenInput:
    """Captum's TextTokenInput over exactly ``ids`` (its interpretable tokens: those not skipped)."""
    text = tokenizer.decode(list(ids))
    inp = TextTokenInput(text, tokenizer, baselines=int(baseline_id), skip_tokens=list(skip_token_ids) or None)
    exact = torch.tensor([list(ids)], dtype=torch.long)
    if not torch.equal(inp.inp_tensor, exact):
        inp.inp_tensor = exact
        keep = torch.ones_like(exact, dtype=torch.bool)
        for skip in skip_token_ids:
            keep &= exact != skip
        inp.itp_mask = keep if skip_token_ids else None
        inp.itp_tensor = exact[keep].unsqueeze(0) if skip_token_ids else exact
        inp.values = tokenizer.convert_ids_to_tokens(inp.itp_tensor[0].tolist())
        inp.n_itp_features = len(inp.values)
    return inp


def captum_integrated_gradients(
    loaded,
    input_ids: Sequence[int],
    target_ids: Sequence[int],
    *,
    n_steps: int,
    baseline_id: int,
    method: str = "gausslegendre",
    skip_token_ids: Sequence[int] = (),
) -> np.ndarray:
    """float32 ``[targets, interpretable input tokens]``: Captum's per-target-token IG (``token_attr``)."""
    with loaded.lock:
        model = loaded.model.eval()
        inp = captum_text_input(loaded.tokenizer, input_ids, baseline_id=baseline_id, skip_token_ids=skip_token_ids)
        llm = LLMGradientAttribution(LayerIntegratedGradients(model, model.get_input_embeddings()), loaded.tokenizer)
        target = torch.tensor(list(target_ids), dtype=torch.long)
        result = llm.attribute(inp, target=target, n_steps=n_steps, method=method)
    return result.token_attr.float().cpu().numpy()


def captum_feature_ablation(
    loaded,
    input_ids: Sequence[int],
    target_ids: Sequence[int],
    *,
    baseline_id: int,
    skip_token_ids: Sequence[int] = (),
) -> np.ndarray:
    """float32 ``[targets, interpretable input tokens]``: Captum's per-target-token Feature Ablation."""
    with loaded.lock:
        model = loaded.model.eval()
        inp = captum_text_input(loaded.tokenizer, input_ids, baseline_id=baseline_id, skip_token_ids=skip_token_ids)
        llm = LLMAttribution(FeatureAblation(model), loaded.tokenizer)
        target = torch.tensor(list(target_ids), dtype=torch.long)
        result = llm.attribute(inp, target=target, forward_in_tokens=False)
    return result.token_attr.float().cpu().numpy()


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """``max|ours - reference| / max|reference|``, the agreement measure of tests and benchmarks."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return float(np.abs(ours - reference).max() / np.abs(reference).max())
