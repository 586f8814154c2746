"""Decoding a prompt moment by moment into a `Trace`.

One forward pass per token with the model's KV cache, as ``generate`` does (the step loop of
``stepping.py``); each pass also returns the attention weights eager attention computes anyway, of which
only the new position's row is kept (``[layers, heads, keys]``, float16, on the CPU). Probabilities, top-k
and entropy come from one log-softmax of the unmodified logits (temperature 1), whatever the sampling
settings (``distribution.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from tracing.core.sampling import choose, make_generator
from tracing.core.stepping import run_steps
from tracing.core.tokens import readable_tokens
from tracing.core.trace import FORMAT_VERSION, DecodingSettings, Moment, Trace

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


def trace_info(loaded, vocab_size: int | None) -> dict:
    """A trace's ``info``: where and how the model ran, and its architecture (``config.model_type``: which
    analyses know its layout)."""
    return {
        "format_version": FORMAT_VERSION,
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "vocab_size": vocab_size,
        "architecture": loaded.architecture,
    }


def trace_generation(
    loaded,
    prompt: str,
    settings: DecodingSettings | None = None,
    on_moment: MomentCallback | None = None,
    should_stop: StopCheck | None = None,
    attention: bool = True,
) -> Trace:
    """Generates from ``prompt`` and records every moment.

    ``loaded`` is a `model_zoo.LoadedModel`. ``on_moment`` is called with each moment as soon as it exists
    (a page can draw the generation as it grows); ``should_stop`` is asked before each step and ends the
    trace early with stop_reason "stopped"; without ``attention`` the moments keep no attention rows. Raises ValueError for bad settings, an empty prompt or one that
    does not fit the model's context.
    """
    settings = (settings or DecodingSettings()).validate()
    tokenizer = loaded.tokenizer
    rendered, prompt_ids = render_prompt(loaded, prompt, settings.use_chat_template)
    check_fits(loaded, len(prompt_ids), settings.max_new_tokens)
    stop_ids = eos_ids(loaded)
    generator, seed_used = make_generator(settings, loaded.device)
    run = run_steps(
        loaded,
        prompt_ids,
        0,
        settings,
        lambda index, logits: choose(logits, settings, generator),
        stop_ids,
        on_moment=on_moment,
        should_stop=should_stop,
        attention=attention,
    )
    identity = loaded.identity
    return Trace(
        model_id=identity.base,
        adapter=identity.adapter,
        prompt=prompt,
        rendered_prompt=rendered,
        prompt_ids=prompt_ids,
        prompt_tokens=readable_tokens(tokenizer, prompt_ids),
        settings=settings,
        moments=run.moments,
        stop_reason=run.stop_reason,
        text=tokenizer.decode([m.token_id for m in run.moments], skip_special_tokens=True),
        prefill_seconds=run.prefill_seconds,
        info=trace_info(loaded, run.vocab_size) | {"seed_used": seed_used, "eos_ids": sorted(stop_ids)},
    )
