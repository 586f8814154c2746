"""The logit lens for one moment: what each layer would predict if the model stopped there.

One forward pass over the prompt and the tokens generated before the moment, with hidden states; each
layer's hidden state at the last position goes through the model's final norm and its output embedding
(lm_head). Row 0 is the embedding layer; the last row is the model's real output distribution, so it
matches the moment itself. (Models that post-process logits, e.g. Gemma's soft-capping, are shown without
that step in the inner layers.) The functions import torch when they run, so `LogitLens` loads without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tracing.core.tokens import readable_token, readable_tokens
from tracing.core.trace import Trace

if TYPE_CHECKING:
    import torch

# Where the final norm lives, relative to the model behind the LM head (Llama/Qwen/Mistral, GPT-2, GPT-NeoX,
# Phi, OPT...). A new architecture is one more entry.
FINAL_NORM_PATHS = (
    "model.norm",
    "transformer.ln_f",
    "gpt_neox.final_layer_norm",
    "model.final_layernorm",
    "model.decoder.final_layer_norm",
    "transformer.norm_f",
    "backbone.norm_f",
)


@dataclass
class LogitLens:
    """Per layer (row 0 = embeddings, last row = final output): top tokens and the chosen token's fate."""

    moment_index: int
    token_id: int
    token: str
    layer_names: list[str]  # [layers + 1]
    top_ids: np.ndarray  # int64 [layers + 1, k]
    top_probs: np.ndarray  # float32 [layers + 1, k], descending per row
    top_tokens: list[list[str]]  # [layers + 1][k]
    chosen_probs: np.ndarray  # float32 [layers + 1]: probability of the moment's token at each layer
    chosen_ranks: np.ndarray  # int64 [layers + 1]: its rank (1 = most likely)


def final_norm(model: torch.nn.Module) -> torch.nn.Module | None:
    """The norm applied before the LM head, or None when the model has none we can find."""
    import torch

    from model_zoo.seam import base_module

    model = base_module(model)
    for path in FINAL_NORM_PATHS:
        module = model
        for part in path.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, torch.nn.Module):
            return module
    return None


def logit_lens(loaded, trace: Trace, moment_index: int, top_k: int = 5) -> LogitLens:
    """The logit lens at moment ``moment_index`` of ``trace`` (made by the model ``loaded`` holds)."""
    if not 0 <= moment_index < len(trace.moments):
        raise ValueError(f"moment_index must be from 0 to {len(trace.moments) - 1}, got {moment_index}.")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}.")
    loaded.identity.check_made(trace.identity, "look into")
    import torch

    model, tokenizer = loaded.model, loaded.tokenizer
    moment = trace.moments[moment_index]
    prefix = trace.all_ids[: trace.prompt_len + moment_index]
    norm = final_norm(model)
    head = loaded.base_model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{loaded.id} has no output embedding (LM head), so it has no logit lens.")
    ids = torch.tensor([prefix], dtype=torch.long, device=loaded.device)
    with torch.inference_mode():
        with loaded.lock:
            out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
            states = torch.stack([h[0, -1] for h in out.hidden_states[:-1]])  # [layers, hidden]
            inner = head(norm(states) if norm is not None else states)
        logits = torch.cat([inner, out.logits[0, -1:]]).float()  # the last layer: the model's own output
        log_probs = torch.log_softmax(logits, dim=-1)
        top = torch.topk(log_probs, min(top_k, log_probs.shape[-1]), dim=-1)
        chosen = log_probs[:, moment.token_id]
        ranks = (log_probs > chosen[:, None]).sum(dim=-1) + 1
    top_ids = top.indices.cpu().numpy().astype(np.int64)
    return LogitLens(
        moment_index=moment_index,
        token_id=moment.token_id,
        token=readable_token(tokenizer, moment.token_id),
        layer_names=["embeddings"] + [f"layer {i}" for i in range(1, len(top_ids))],
        top_ids=top_ids,
        top_probs=top.values.exp().cpu().numpy().astype(np.float32),
        top_tokens=[readable_tokens(tokenizer, row) for row in top_ids],
        chosen_probs=chosen.exp().cpu().numpy().astype(np.float32),
        chosen_ranks=ranks.cpu().numpy().astype(np.int64),
    )
