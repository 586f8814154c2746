"""The one KV-cache step loop: decode and branch both run it, over the model's stream of KV-cache steps
(batched with every other decode on the model, `model_zoo.step_scheduler`).

The prefix is read in one pass that fills the cache; then one pass per token. At every step the caller's
``pick`` chooses the token (sampled, greedy, or forced), the step is described as a `Moment`, and the loop
ends at the step limit, at an end-of-sequence token (if the settings say so) or when asked to stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from model_zoo.seam import AroundForward
from tracing.core.distribution import describe_step, step_moment
from tracing.core.sampling import Choice
from tracing.core.trace import DecodingSettings, Moment

Pick = Callable[[int, torch.Tensor], Choice]  # (moment index, logits [vocab]) -> the choice


@dataclass
class StepRun:
    moments: list[Moment] = field(default_factory=list)
    stop_reason: str = "max_new_tokens"
    prefill_seconds: float = 0.0
    vocab_size: int | None = None


def run_steps(
    loaded,
    prefix_ids: list[int],
    first_index: int,
    settings: DecodingSettings,
    pick: Pick,
    stop_ids: set[int],
    on_moment: Callable[[Moment], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    around: AroundForward | None = None,
    attention: bool = True,
) -> StepRun:
    """Moments ``first_index`` up to ``settings.max_new_tokens`` after ``prefix_ids`` (the prompt and the
    ``first_index`` tokens before them). ``on_moment`` sees each moment as soon as it exists;
    ``should_stop`` is asked before each step (stop reason "stopped"); ``around`` wraps every forward pass
    (an intervention's hooks, see `KVCacheSteps`: such a stream runs alone, never in a batch); without
    ``attention`` the moments keep no attention rows (an evaluation of many questions needs none)."""
    run = StepRun()
    inputs = prefix_ids
    with torch.inference_mode(), loaded.steps(attention=attention, around=around) as steps:
        for index in range(first_index, settings.max_new_tokens):
            if should_stop is not None and should_stop():
                run.stop_reason = "stopped"
                break
            started = time.perf_counter()
            step = steps.step(inputs)
            if index == first_index:
                run.prefill_seconds = step.seconds
            run.vocab_size = step.logits.shape[-1]
            stats = describe_step(step.logits, settings, pick(index, step.logits))
            moment = step_moment(loaded.tokenizer, index, stats, step.attention, time.perf_counter() - started)
            run.moments.append(moment)
            if on_moment is not None:
                on_moment(moment)
            if settings.stop_at_eos and stats.token_id in stop_ids:
                run.stop_reason = "eos"
                break
            inputs = [stats.token_id]
    return run
