"""Choosing the next token: greedy, or sampling after temperature, top-k and top-p (in that order, as
transformers' ``generate`` applies them), from a seeded generator so a seeded trace reproduces.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tracing.core.trace import DecodingSettings


@dataclass
class Choice:
    """The chosen token and how many vocabulary tokens were eligible (``eligible`` is None under greedy:
    only the arg-max was, so the count is 1). ``forced``: the token came from outside (a branch's forced
    token, another model's choice), so it need not be one the settings would pick."""

    token_id: torch.Tensor  # int64 scalar tensor, on the logits' device
    eligible_count: torch.Tensor | int
    eligible: torch.Tensor | None  # bool [vocab] mask of eligible tokens, None under greedy
    forced: bool = False


def filtered_logits(logits: torch.Tensor, settings: DecodingSettings) -> torch.Tensor:
    """``logits / temperature`` with every token that top-k or top-p removes set to -inf.

    top-k keeps the k highest logits (ties at the k-th value all stay, as in transformers); top-p keeps the
    smallest set of most likely tokens whose probabilities sum to at least ``top_p``. At least one token
    always stays.
    """
    scores = logits.float() / settings.temperature
    if settings.top_k > 0 and settings.top_k < scores.shape[-1]:
        kth = torch.topk(scores, settings.top_k).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if settings.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= (1 - settings.top_p)
        remove_sorted[..., -1:] = False  # the most likely token always stays
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        scores = scores.masked_fill(remove, float("-inf"))
    return scores


def choose(logits: torch.Tensor, settings: DecodingSettings, generator: torch.Generator | None) -> Choice:
    """The next token for one position's logits ``[vocab]``."""
    if not settings.do_sample:
        return Choice(torch.argmax(logits), 1, None)
    scores = filtered_logits(logits, settings)
    eligible = torch.isfinite(scores)
    probs = torch.softmax(scores, dim=-1)
    token = torch.multinomial(probs, 1, generator=generator)[0]
    return Choice(token, eligible.sum(), eligible)


def make_generator(settings: DecodingSettings, device: torch.device) -> tuple[torch.Generator | None, int | None]:
    """A generator seeded with ``settings.seed`` (or a fresh random seed, returned so the trace can record
    it); None under greedy decoding."""
    if not settings.do_sample:
        return None, None
    seed = settings.seed if settings.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator, seed


def forced_choice(logits: torch.Tensor, settings: DecodingSettings, token_id: int) -> Choice:
    """``token_id`` as the choice at one position, with what the settings would have left eligible there."""
    token = torch.tensor(int(token_id), device=logits.device)
    if not settings.do_sample:
        return Choice(token, 1, None, forced=True)
    eligible = torch.isfinite(filtered_logits(logits, settings))
    return Choice(token, eligible.sum(), eligible, forced=True)
