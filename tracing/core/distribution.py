"""One description of a step's next-token distribution, whoever chose the token: the decoder, a branch's
forced token, or another model's choice read teacher-forced.

Everything comes from one log-softmax of the unmodified logits (temperature 1), whatever the sampling
settings; the rank is the token's real rank (1 + how many tokens are strictly more likely), and eligibility
is what the settings would have left choosable (under greedy decoding, only the arg-max).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tracing.core.sampling import Choice
from tracing.core.tokens import readable_token, readable_tokens
from tracing.core.trace import DecodingSettings, Moment


@dataclass
class StepStatistics:
    """One moment's numbers, on the CPU."""

    token_id: int
    prob: float
    rank: int
    entropy: float
    eligible_count: int
    top_ids: np.ndarray  # int64 [k]
    top_probs: np.ndarray  # float32 [k]
    eligible_mask: np.ndarray  # bool [k]


def describe_step(logits: torch.Tensor, settings: DecodingSettings, choice: Choice) -> StepStatistics:
    """The chosen token's probability and rank, the entropy, the top-k and its eligibility, from one
    position's logits ``[vocab]``.

    When the decoder itself chose greedily the rank is 1 by definition, so it is not computed.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    top = torch.topk(log_probs, min(settings.record_top_k, log_probs.shape[-1]))
    chosen = log_probs[choice.token_id]
    entropy = -torch.dot(log_probs.exp(), log_probs)
    if choice.eligible is None:
        count = torch.ones((), device=logits.device)
        if choice.forced:
            rank = (log_probs > chosen).sum() + 1
            mask = top.indices == torch.argmax(logits)
        else:
            rank = count
            mask = top.indices == choice.token_id
    else:
        rank = (log_probs > chosen).sum() + 1
        count = choice.eligible_count
        mask = choice.eligible[top.indices]
    # One device -> host transfer for the scalars (float32: MPS has no float64; ids and counts are exact
    # below 2**24).
    token_id, log_prob, entropy_value, rank_value, count_value = torch.stack(
        [choice.token_id.float(), chosen, entropy, rank.float(), torch.as_tensor(count, device=logits.device).float()]
    ).tolist()
    if not math.isfinite(entropy_value):  # tokens masked with -inf logits give 0 * -inf terms
        entropy_value = float(-(log_probs.exp() * log_probs).nan_to_num(nan=0.0).sum())
    return StepStatistics(
        token_id=int(token_id),
        prob=math.exp(log_prob),
        rank=int(rank_value),
        entropy=entropy_value,
        eligible_count=int(count_value),
        top_ids=top.indices.cpu().numpy().astype(np.int64),
        top_probs=top.values.exp().cpu().numpy().astype(np.float32),
        eligible_mask=mask.cpu().numpy(),
    )


def step_moment(tokenizer, index: int, stats: StepStatistics, attention: np.ndarray | None, seconds: float) -> Moment:
    """The `Moment` of a described step (readable texts added)."""
    return Moment(
        index=index,
        token_id=stats.token_id,
        token=readable_token(tokenizer, stats.token_id),
        prob=stats.prob,
        rank=stats.rank,
        entropy=stats.entropy,
        top_ids=stats.top_ids,
        top_probs=stats.top_probs,
        top_tokens=readable_tokens(tokenizer, stats.top_ids),
        eligible_count=stats.eligible_count,
        eligible_mask=stats.eligible_mask,
        attention=attention,
        seconds=seconds,
    )
