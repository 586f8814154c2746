"""Decoding a prompt moment by moment into a `Trace`.

One forward pass per token with the model's KV cache, as ``generate`` does; each pass also returns the
attention weights eager attention computes anyway, of which only the new position's row is kept
(``[layers, heads, keys]``, float16, on the CPU). Probabilities, top-k and entropy come from one
log-softmax of the unmodified logits (temperature 1), whatever the sampling settings.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tracing.sampling import choose, make_generator
from tracing.tokens import readable_token, readable_tokens
from tracing.trace import FORMAT_VERSION, DecodingSettings, Moment, Trace

MomentCallback = Callable[[Moment], None]
StopCheck = Callable[[], bool]


def render_prompt(loaded, prompt: str, use_chat_template: bool = True) -> tuple[str, list[int]]:
    """The text the model reads and its token ids: the chat template applied (one user turn, then the
    assistant's turn opened) for chat models, else the prompt with the tokenizer's usual specials (BOS)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("The prompt is empty: type some text for the model to continue or answer.")
    tokenizer = loaded.tokenizer
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    else:
        rendered = prompt
        ids = tokenizer(prompt)["input_ids"]
    return rendered, [int(i) for i in ids]


def check_fits(loaded, prompt_len: int, max_new_tokens: int) -> None:
    """Raises ValueError when the prompt, or the prompt plus the tokens to generate, exceed the context."""
    limit = loaded.max_context
    if limit is None:
        return
    if prompt_len >= limit:
        raise ValueError(
            f"The prompt is {prompt_len} tokens long (chat template included), but {loaded.id} reads at most "
            f"{limit} tokens. Shorten the prompt."
        )
    if prompt_len + max_new_tokens > limit:
        raise ValueError(
            f"The prompt ({prompt_len} tokens) plus max_new_tokens ({max_new_tokens}) is {prompt_len + max_new_tokens} "
            f"tokens, more than {loaded.id}'s context of {limit} tokens. Ask for at most "
            f"{limit - prompt_len} new tokens or shorten the prompt."
        )


def eos_ids(loaded) -> set[int]:
    """Every id that ends a generation: the generation config's EOS ids (one or a list) and the tokenizer's."""
    found: set[int] = set()
    config = getattr(loaded.model, "generation_config", None)
    for value in (getattr(config, "eos_token_id", None), getattr(loaded.tokenizer, "eos_token_id", None)):
        if isinstance(value, int):
            found.add(value)
        elif value is not None:
            found.update(int(v) for v in value)
    return found


def _model_identity(loaded) -> tuple[str, str | None]:
    entry = loaded.entry
    if entry.source == "adapter":
        return entry.base, entry.id
    return entry.id, None


def _forward_kwargs(model) -> dict:
    """Keyword arguments that cut work the trace does not need (logits for prompt positions)."""
    get_base = getattr(model, "get_base_model", None)  # a peft wrapper passes keywords on to its base
    parameters = inspect.signature((get_base() if callable(get_base) else model).forward).parameters
    return {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}


def _last_attention_rows(attentions) -> torch.Tensor | None:
    """``[layers, heads, keys]`` float16 on the CPU: the last query row of every layer's attention."""
    if not attentions or any(a is None for a in attentions):
        return None
    rows = torch.stack([a[0, :, -1, :] for a in attentions])
    return rows.to(device="cpu", dtype=torch.float16)


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


def step_statistics(logits: torch.Tensor, settings: DecodingSettings, generator) -> StepStatistics:
    """Chooses the next token from one position's logits ``[vocab]`` and describes the distribution.

    Everything comes from one log-softmax at temperature 1; under greedy decoding the rank is 1 by
    definition and only the arg-max is eligible, so neither is computed.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    top = torch.topk(log_probs, min(settings.record_top_k, log_probs.shape[-1]))
    choice = choose(logits, settings, generator)
    chosen = log_probs[choice.token_id]
    entropy = -torch.dot(log_probs.exp(), log_probs)
    if choice.eligible is None:
        rank = count = torch.ones((), device=logits.device)
        mask = top.indices == choice.token_id
    else:
        rank = (log_probs > chosen).sum() + 1
        count = choice.eligible_count
        mask = choice.eligible[top.indices]
    # One device -> host transfer for the scalars (float32: MPS has no float64; ids and counts are exact
    # below 2**24).
    token_id, log_prob, entropy_value, rank_value, count_value = torch.stack(
        [choice.token_id.float(), chosen, entropy, rank.float(), torch.as_tensor(count).float()]
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


def trace_generation(
    loaded,
    prompt: str,
    settings: DecodingSettings | None = None,
    on_moment: MomentCallback | None = None,
    should_stop: StopCheck | None = None,
) -> Trace:
    """Generates from ``prompt`` and records every moment.

    ``loaded`` is a `model_zoo.LoadedModel`. ``on_moment`` is called with each moment as soon as it exists
    (a page can draw the generation as it grows); ``should_stop`` is asked before each step and ends the
    trace early with stop_reason "stopped". Raises ValueError for bad settings, an empty prompt or one that
    does not fit the model's context.
    """
    settings = (settings or DecodingSettings()).validate()
    model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
    rendered, prompt_ids = render_prompt(loaded, prompt, settings.use_chat_template)
    check_fits(loaded, len(prompt_ids), settings.max_new_tokens)
    stop_ids = eos_ids(loaded)
    generator, seed_used = make_generator(settings, device)
    vocab_size = None
    model_id, adapter = _model_identity(loaded)
    extra = _forward_kwargs(model)
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    moments: list[Moment] = []
    stop_reason = "max_new_tokens"
    prefill_seconds = 0.0
    inputs = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    with torch.inference_mode():
        for index in range(settings.max_new_tokens):
            if should_stop is not None and should_stop():
                stop_reason = "stopped"
                break
            started = time.perf_counter()
            with loaded.lock:
                out = model(input_ids=inputs, past_key_values=cache, use_cache=True, output_attentions=True, **extra)
            if index == 0:
                prefill_seconds = time.perf_counter() - started
            logits = out.logits[0, -1]
            attention = _last_attention_rows(out.attentions)
            out = None  # the full attention matrices go now, not at the next step
            stats = step_statistics(logits, settings, generator)
            vocab_size = logits.shape[-1]
            token_id = stats.token_id
            moment = Moment(
                index=index,
                token_id=token_id,
                token=readable_token(tokenizer, token_id),
                prob=stats.prob,
                rank=stats.rank,
                entropy=stats.entropy,
                top_ids=stats.top_ids,
                top_probs=stats.top_probs,
                top_tokens=readable_tokens(tokenizer, stats.top_ids),
                eligible_count=stats.eligible_count,
                eligible_mask=stats.eligible_mask,
                attention=None if attention is None else attention.numpy(),
                seconds=time.perf_counter() - started,
            )
            moments.append(moment)
            if on_moment is not None:
                on_moment(moment)
            if settings.stop_at_eos and token_id in stop_ids:
                stop_reason = "eos"
                break
            inputs = torch.tensor([[token_id]], dtype=torch.long, device=device)
    generated = [m.token_id for m in moments]
    return Trace(
        model_id=model_id,
        adapter=adapter,
        prompt=prompt,
        rendered_prompt=rendered,
        prompt_ids=prompt_ids,
        prompt_tokens=readable_tokens(tokenizer, prompt_ids),
        settings=settings,
        moments=moments,
        stop_reason=stop_reason,
        text=tokenizer.decode(generated, skip_special_tokens=True),
        prefill_seconds=prefill_seconds,
        info={
            "format_version": FORMAT_VERSION,
            "device": str(device),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "vocab_size": vocab_size,
            "seed_used": seed_used,
            "eos_ids": sorted(stop_ids),
        },
    )
