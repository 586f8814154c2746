"""The logit lens for one moment: what each layer would predict if the model stopped there.

One forward pass over the prompt and the tokens generated before the moment, with hidden states; the
residual stream before each layer (and before the final norm) at the last position goes through what the
family description says ends the model: its final norm, its output embedding (lm_head) and its logit
post-processing (Granite's divisor, Gemma's soft cap). Row 0 is the embedding layer; the last row is the
final residual through the same map, so it equals the model's own output. `LogitLens` loads without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tracing.core.tokens import readable_token, readable_tokens
from tracing.core.trace import Trace

if TYPE_CHECKING:
    import torch


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


def lens_layout(loaded):
    """The loaded model's family description, or ValueError naming what is unknown about it."""
    layout = loaded.layout
    if layout is None:
        raise ValueError(loaded.layout_problem)
    return layout


def residual_states(loaded, ids: torch.Tensor, rows, keep=None) -> tuple[torch.Tensor, object]:
    """The residual stream at positions ``rows`` before each layer and before the final norm, ``[layers + 1,
    len(rows), hidden]`` (row 0: the embeddings as the first layer reads them), from one forward of ``ids``
    (batch of one); and that forward's output (logits of the last ``keep`` positions)."""
    import torch

    layout = lens_layout(loaded)
    norm = layout.final_norm(loaded.base_model)
    final: list = []
    with loaded.lock:
        handle = norm.register_forward_pre_hook(lambda _module, args: final.append(args[0][0, rows]))
        try:
            out = loaded.forward(ids, hidden_states=True, keep=keep)
        finally:
            handle.remove()
    inner = [h[0, rows] for h in out.hidden_states[: layout.num_layers]]  # the last entry is after the norm
    return torch.stack([*inner, final[-1]]), out


def lens_logits(loaded, states: torch.Tensor) -> torch.Tensor:
    """What the model would output if its residual stream were ``states`` ``[..., hidden]``: the family's final
    norm, the LM head and the logit post-processing (Granite's divisor, Gemma's soft cap)."""
    layout = lens_layout(loaded)
    model = loaded.base_model
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{loaded.id} has no output embedding (LM head), so it has no logit lens.")
    with loaded.lock:
        return layout.postprocess(head(layout.final_norm(model)(states)))


def logit_lens(loaded, trace: Trace, moment_index: int, top_k: int = 5, translate=None) -> LogitLens:
    """The logit lens at moment ``moment_index`` of ``trace`` (made by the model ``loaded`` holds);
    ``translate`` maps the residual rows ``[layers + 1, hidden]`` first (a tuned lens's translators)."""
    if not 0 <= moment_index < len(trace.moments):
        raise ValueError(f"moment_index must be from 0 to {len(trace.moments) - 1}, got {moment_index}.")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}.")
    loaded.identity.check_made(trace.identity, "look into")
    import torch

    tokenizer = loaded.tokenizer
    moment = trace.moments[moment_index]
    prefix = trace.all_ids[: trace.prompt_len + moment_index]
    ids = torch.tensor([prefix], dtype=torch.long, device=loaded.device)
    with torch.inference_mode():
        states, _ = residual_states(loaded, ids, -1, keep=1)  # [layers + 1, hidden]
        states = states if translate is None else translate(states)
        log_probs = torch.log_softmax(lens_logits(loaded, states).float(), dim=-1)
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
