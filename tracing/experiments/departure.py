"""Where a model leaves a reference solution: the reference is teacher-forced after the prompt in one pass
(`tracing.core.teacher_forcing`), and the first position whose most likely next token is not the
reference's is the departure moment, with the reference token's probability and rank there.

Under greedy decoding the model's own generation follows the reference up to that moment, so the moment
index is also where its trace went its own way.
"""

from __future__ import annotations

import torch

from tracing.core.teacher_forcing import forced_pass
from tracing.core.tokens import readable_token
from tracing.experiments.evaluation import Departure


def reference_ids(tokenizer, reference: str) -> list[int]:
    """The reference solution's tokens as the model would write them after the prompt (no special tokens)."""
    return [int(i) for i in tokenizer(reference, add_special_tokens=False)["input_ids"]]


def departure(loaded, prompt_ids: list[int], reference: list[int]) -> Departure | None:
    """The departure from ``reference`` (token ids after ``prompt_ids``); None when the model's top choice is
    the reference's token at every position."""
    if not reference:
        return None
    forced = forced_pass(loaded, list(prompt_ids) + list(reference), len(prompt_ids), attention=False)
    log_probs = torch.log_softmax(forced.logits.float(), dim=-1)  # [len(reference), vocab]
    wanted = torch.tensor(reference)
    top = log_probs.argmax(dim=-1)
    departed = (top != wanted).nonzero()
    if len(departed) == 0:
        return None
    moment = int(departed[0])
    row = log_probs[moment]
    chosen = row[wanted[moment]]
    return Departure(
        moment=moment,
        reference_id=int(wanted[moment]),
        reference_token=readable_token(loaded.tokenizer, int(wanted[moment])),
        reference_prob=float(chosen.exp()),
        reference_rank=int((row > chosen).sum()) + 1,
        model_id=int(top[moment]),
        model_token=readable_token(loaded.tokenizer, int(top[moment])),
        model_prob=float(row[top[moment]].exp()),
    )
