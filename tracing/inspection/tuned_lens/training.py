"""Training a tuned lens: for a chunk of text, the residual stream before each layer (one forward of the seam,
the model frozen), each row translated and decoded with the model's own final norm and unembedding, and the
KL divergence from the model's final distribution to it minimised for every layer at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tracing.inspection.logit_lens import lens_logits, residual_states
from tracing.inspection.tuned_lens.lens import TunedLens


@dataclass
class StepResult:
    step: int
    loss: float  # the mean over layers of KL(final || translated), nats per token
    tokens: int
    seconds: float


def lens_optimizer(lens: TunedLens, lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.Adam(lens.parameters(), lr=lr)


def final_and_states(loaded, chunk: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(the model's log-probabilities ``[positions, vocab]``, the residual rows ``[layers + 1, positions,
    hidden]``) for one chunk, outside inference mode so the rows can feed a translator's gradient."""
    ids = torch.tensor([chunk], dtype=torch.long, device=loaded.device)
    states, out = residual_states(loaded, ids, slice(None))
    final = out.logits[0].float().log_softmax(-1).clone()
    return final, states.clone()


def kl_from_final(final_log_probs: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """KL(final || lens) per position, nats ``[positions]``."""
    return (final_log_probs.exp() * (final_log_probs - log_probs)).sum(-1)


def translated_kl(loaded, lens: TunedLens, final: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """KL(final || tuned lens) ``[layers, positions]`` for the translated rows (every row but the last), all
    decoded in one pass through the final norm and unembedding (one large product runs several times
    faster than one per layer on a CPU)."""
    rows = [lens.translate_row(row, states[row]) for row in range(lens.num_layers)]
    log_probs = lens_logits(loaded, torch.cat(rows)).float().log_softmax(-1)
    positions = final.shape[0]
    return kl_from_final(final.repeat(lens.num_layers, 1), log_probs).view(lens.num_layers, positions)


def train_step(loaded, lens: TunedLens, optimizer: torch.optim.Optimizer, chunk: list[int]) -> float:
    """One optimiser step on one chunk; returns the mean KL over the translated layers before the step.

    The loss is the sum over layers of each layer's mean KL: a translator reads its own row alone, so its
    gradient is that of its own layer's KL."""
    final, states = final_and_states(loaded, chunk)
    optimizer.zero_grad(set_to_none=True)
    per_layer = translated_kl(loaded, lens, final, states).mean(-1)
    params = list(lens.parameters())
    # only the translators' gradients: the frozen model's weights get none (and keep no .grad)
    for param, grad in zip(params, torch.autograd.grad(per_layer.sum(), params), strict=True):
        param.grad = grad
    optimizer.step()
    return float(per_layer.detach().mean())


def train_lens(
    loaded,
    lens: TunedLens,
    optimizer: torch.optim.Optimizer,
    chunks: list[list[int]],
    steps: int,
    on_step: Callable[[StepResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Trains ``lens`` from step ``lens.trained["steps"]`` up to ``steps``, cycling through ``chunks``; returns
    the step reached (earlier when ``should_stop`` says so, asked before each step)."""
    lens.train()
    step = int(lens.trained["steps"])
    while step < steps:
        if should_stop is not None and should_stop():
            break
        started = time.perf_counter()
        chunk = chunks[step % len(chunks)]
        loss = train_step(loaded, lens, optimizer, chunk)
        step += 1
        lens.trained = {"steps": step, "tokens": int(lens.trained["tokens"]) + len(chunk)}
        if on_step is not None:
            on_step(StepResult(step, loss, len(chunk), time.perf_counter() - started))
    lens.eval()
    return step
