"""The target scores as a function Captum can attribute, computed once per distinct input and shared by targets.

Captum's gradient methods take one scalar per input row and one gradient per row. To explain T targets we
give Captum T identical rows per input (one per target) and a forward function that

- runs the model once per *distinct* row (Captum's rows for one interpolation step are equal), with logits
  only at the positions that predict a target (not over the whole vocabulary at every position);
- hands each row the gradient of *its own* target alone, one backward pass per target through the shared
  graph (a summed backward would mix the targets' gradients).

So T targets cost one forward and T backward passes per step instead of T forwards and T backwards over
full-vocabulary logits, and Captum still does the attribution arithmetic (paths, quadrature, deltas, ablation).

The backward passes are the cost (one per target), so each one is kept to what its target depends on:

- each target gets its own vocabulary row and log-softmax as a separate graph branch, so its backward pass
  does not multiply the zero gradients of every other target's logits through the output layer;
- attention runs fused (SDPA) during gradient methods, its backward cheaper than eager attention's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from model_zoo.seam import attention_used, forward_keywords, input_device, run_forward
from tracing.inspection.attribution.targets import NO_CONTRAST, Targets

GRADIENT_ATTENTION = "sdpa"  # the attention implementation gradient methods run (fused: a cheaper backward)


@contextmanager
def model_session(loaded, for_gradients: bool = False) -> Iterator[SessionModel]:
    """Holds the model's lock, in eval mode, with parameters frozen (no weight gradients); restores both.
    Yields the `SessionModel` a method runs.

    ``for_gradients``: also switch to ``GRADIENT_ATTENTION`` where the model has it (the seam's
    `attention_used`), undone afterwards, even on error (the zoo loads eager attention because tracing and
    attention rollout read the attention weights; gradient methods do not, and SDPA's backward is cheaper).
    """
    with loaded.lock:
        model = loaded.model
        was_training = model.training
        # accelerate's offload (device_map) makes the weights it brings in for an inference-mode forward
        # inference tensors, replaced at the next forward: those are not the model's to restore
        trainable = [p for p in model.parameters() if p.requires_grad and not p.is_inference()]
        model.eval()
        for parameter in trainable:
            parameter.requires_grad_(False)
        try:
            with attention_used(model, GRADIENT_ATTENTION if for_gradients else None):
                yield SessionModel(loaded)
        finally:
            for parameter in trainable:
                parameter.requires_grad_(True)
            model.train(was_training)


class SessionModel:
    """The loaded model as an attribution method sees it: its embedding and output layers, and its one
    forward, the seam's (`model_zoo.seam.run_forward`, with gradients)."""

    def __init__(self, loaded) -> None:
        self.loaded = loaded
        self.module = loaded.model

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.module.get_input_embeddings()

    def get_output_embeddings(self) -> torch.nn.Module | None:
        return self.module.get_output_embeddings()

    def forward(self, input_ids=None, **options):
        return run_forward(self.loaded, input_ids, gradients=True, **options)


class TargetScorer:
    """Target scores of one group of targets over ``ids[:length]``; ``length`` covers the group's last target."""

    def __init__(self, model: SessionModel, targets: Targets, length: int | None = None) -> None:
        self.model = model
        self.targets = targets
        self.length = int(length or targets.positions.max())
        device = input_device(model.module)
        self.device = device
        self.ids = targets.ids[: self.length].to(device)
        self.logit_rows = torch.as_tensor(targets.positions - 1, device=device)
        self.target_ids = torch.as_tensor(targets.target_ids, device=device)
        contrast = targets.contrast_ids
        self.contrast_rows = torch.as_tensor(np.flatnonzero(contrast != NO_CONTRAST), device=device)
        self.contrast_ids = torch.as_tensor(contrast[contrast != NO_CONTRAST], device=device)
        self._slice_logits = "logits_to_keep" in forward_keywords(model.module)

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    @property
    def embed(self) -> torch.nn.Module:
        return self.model.get_input_embeddings()

    def _logits(self, points: torch.Tensor) -> torch.Tensor:
        """``[rows, targets, vocab]``: the logits at the positions that predict the targets, only there."""
        if self._slice_logits:
            return self.model.forward(inputs_embeds=points, keep=self.logit_rows).logits
        return self.model.forward(inputs_embeds=points).logits[:, self.logit_rows]

    def score_embeddings(self, points: torch.Tensor) -> torch.Tensor:
        """``[rows, targets]``: each target's score (log p, minus the contrast's) for each row of embeddings."""
        logits = self._logits(points)
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # [rows, targets, vocab]
        columns = torch.arange(self.n_targets, device=points.device)
        scores = logprobs[:, columns, self.target_ids]
        if len(self.contrast_rows):
            scores = scores.index_add(1, self.contrast_rows, -logprobs[:, self.contrast_rows, self.contrast_ids])
        return scores

    def score_columns(self, points: torch.Tensor) -> list[torch.Tensor]:
        """Each target's score ``[rows]`` for rows of embeddings, as its own branch of the graph (see above)."""
        logits, head_of = self._logits_and_heads(points)
        columns = []
        for j in range(self.n_targets):
            logprobs = torch.log_softmax((logits[:, j] if head_of is None else head_of(j)).float(), dim=-1)
            score = logprobs[:, int(self.targets.target_ids[j])]
            contrast = int(self.targets.contrast_ids[j])
            columns.append(score if contrast == NO_CONTRAST else score - logprobs[:, contrast])
        return columns

    def _logits_and_heads(self, points: torch.Tensor):
        """Logits ``[rows, targets, vocab]`` and, where the model's logits are its output layer's output untouched,
        a function giving target j's logits from that layer alone (its own graph branch); else None."""
        head = self.model.get_output_embeddings()
        seen = {}
        handle = None
        if isinstance(head, torch.nn.Module):
            handle = head.register_forward_hook(lambda _, args, out: seen.update(hidden=args[0], logits=out))
        try:
            logits = self._logits(points)
        finally:
            if handle is not None:
                handle.remove()
        hidden = seen.get("hidden")
        if seen.get("logits") is not logits or hidden is None or hidden.shape[:2] != logits.shape[:2]:
            return logits, None  # logits scaled or capped after the output layer: share the model's logits
        return logits, lambda j: head(hidden[:, j])

    def score_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``[rows, targets]`` for rows of token ids ``[rows, length]`` (no gradients)."""
        with torch.no_grad():
            return self.score_embeddings(self.embed(ids))

    def from_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Captum's forward function over token ids (layer methods hook the embedding layer): ``[rows]``."""
        return self.from_embeddings(self.embed(ids))

    def from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Captum's forward function over embeddings ``[steps * targets, length, dim]``: ``[rows]``.

        Row ``s * targets + t`` is step s (Captum's layout) and gives target t's score.
        """
        return _SharedRows.apply(embeddings, self)


class _SharedRows(torch.autograd.Function):
    """Runs the model on the distinct rows only; each row's gradient is that of its own target alone."""

    @staticmethod
    def forward(ctx, embeddings: torch.Tensor, scorer: TargetScorer) -> torch.Tensor:
        n = scorer.n_targets
        blocks = embeddings.reshape(-1, n, *embeddings.shape[1:])
        points = blocks[:, 0]
        if not torch.equal(blocks, points.unsqueeze(1).expand_as(blocks)):
            raise RuntimeError("Rows of one step differ: each target must get an identical copy of the input.")
        if not ctx.needs_input_grad[0]:
            return scorer.score_embeddings(points).reshape(-1)
        with torch.enable_grad():
            leaf = points.detach().requires_grad_(True)
            columns = scorer.score_columns(leaf)
        ctx.graph = (leaf, columns)
        return torch.stack(columns, dim=1).detach().reshape(-1)

    @staticmethod
    def backward(ctx, grad_rows: torch.Tensor):
        leaf, columns = ctx.graph
        del ctx.graph  # frees the graph once the gradients are out
        cotangents = grad_rows.reshape(-1, len(columns))
        grads = torch.zeros((*cotangents.shape, *leaf.shape[1:]), dtype=leaf.dtype, device=leaf.device)
        live = [t for t in range(len(columns)) if bool(cotangents[:, t].any())]
        for k, t in enumerate(live):
            (grads[:, t],) = torch.autograd.grad(
                columns[t], leaf, grad_outputs=cotangents[:, t], retain_graph=k < len(live) - 1
            )
        return grads.reshape(-1, *leaf.shape[1:]), None


def plan_groups(positions: np.ndarray, fixed_passes: float = 0.0) -> list[np.ndarray]:
    """Splits targets into groups run over ``ids[:max position of the group]``; rows into ``positions``.

    Per step a group of n targets over length L costs about ``L * (1 + n + fixed_passes)`` token passes (one
    forward, n backward passes, plus fixed extra forwards), so short targets gain from a shorter group,
    while every group adds its forward. Exact minimum by dynamic programming over the sorted positions.
    """
    order = np.argsort(positions, kind="stable")
    sorted_positions = positions[order]
    count = len(order)
    best = np.full(count + 1, np.inf)
    best[0] = 0.0
    cut = np.zeros(count + 1, dtype=np.int64)
    for end in range(1, count + 1):
        length = float(sorted_positions[end - 1])
        for start in range(end):
            cost = best[start] + length * (1 + (end - start) + fixed_passes)
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], count
    while end > 0:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]


def steps_per_batch(settings_max_tokens: int, length: int, n_targets: int) -> int:
    """How many distinct rows fit one forward pass under the memory bound (logit rows count as positions)."""
    return max(1, settings_max_tokens // (length + n_targets))
