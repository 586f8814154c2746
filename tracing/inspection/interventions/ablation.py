"""Ablation at a moment: one head, a layer's attention or an MLP removed (zero or mean), at the moment's position
only or at every position; and the sweep that removes every head and every MLP in turn.

A head's output is its slice of the output projection's input (the heads side by side), so removing it is
writing zeros (or its clean mean) there; a layer's attention is every head at once; an MLP's output is
replaced whole. At the moment's position only, each variant recomputes that one position on a copy of the
prefix's KV cache, many variants as the rows of one forward (`moment.run_variants`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from tracing.core.tokens import readable_token, readable_tokens
from tracing.core.trace import Trace
from tracing.inspection.interventions import knockout  # noqa: F401  (registers the knockout's hooks)
from tracing.inspection.interventions.hooks import CleanMeans, Edits, Rows, installs
from tracing.inspection.interventions.moment import layout_of, moment_prefix, read_moment, run_variants
from tracing.inspection.interventions.results import AblationSweep, InterventionResult
from tracing.inspection.interventions.specs import Ablation, Intervention

Progress = Callable[[float, str], None]


@installs(Ablation)
def install_ablation(edits: Edits, ablation: Ablation, rows: Rows, position: int, clean: CleanMeans | None) -> None:
    layout, model = edits.layout, edits.model
    start = position if ablation.scope == "moment" else 0
    if ablation.method == "mean" and clean is None:
        raise ValueError("Mean ablation needs the clean prefix's means.")
    if ablation.component == "mlp":
        value = 0.0 if ablation.method == "zero" else clean.mlp_outputs[ablation.layer]
        edits.replace_output(layout.mlp(model, ablation.layer), rows, start, value)
        return
    columns = layout.head_slice(ablation.head) if ablation.component == "head" else slice(None)
    value = 0.0 if ablation.method == "zero" else clean.head_inputs[ablation.layer, columns]
    edits.replace_input(layout.output_projection(model, ablation.layer), rows, start, columns, value)


def _rank(log_probs: torch.Tensor, token_id: int) -> torch.Tensor:
    """1 + how many tokens are strictly more likely, per row of ``[rows, vocab]``."""
    return (log_probs > log_probs[:, token_id : token_id + 1]).sum(dim=-1) + 1


def intervene_position(loaded, prefix: Sequence[int], intervention: Intervention) -> tuple[torch.Tensor, torch.Tensor]:
    """The core over ids: the next-token log-probabilities after ``prefix`` without and with ``intervention``,
    ``(clean [vocab], intervened [vocab])`` float32."""
    layout = layout_of(loaded)
    intervention.check(layout.num_layers, layout.num_heads, len(prefix))
    read = read_moment(loaded, prefix)
    return read.logits.log_softmax(-1), run_variants(loaded, read, [[intervention]])[0]


def intervene(
    loaded, trace: Trace, moment_index: int, intervention: Intervention, top_k: int = 10
) -> InterventionResult:
    """Moment ``moment_index`` of ``trace`` again, with ``intervention``: the change in log p of its token, its
    new rank and the new top-k. Raises ValueError for a bad moment, component or model."""
    started = time.perf_counter()
    prefix = moment_prefix(loaded, trace, moment_index)
    target = trace.moments[moment_index].token_id
    clean, changed = intervene_position(loaded, prefix, intervention)
    both = torch.stack([clean, changed])
    ranks = _rank(both, target).tolist()
    top = torch.topk(both, min(top_k, both.shape[-1]), dim=-1)
    ids = top.indices.cpu().numpy().astype(np.int64)
    probs = top.values.exp().cpu().numpy().astype(np.float32)
    return InterventionResult(
        moment_index=moment_index,
        intervention=intervention.to_dict(),
        label=intervention.label,
        target_id=target,
        target_token=readable_token(loaded.tokenizer, target),
        clean_log_prob=float(clean[target]),
        log_prob=float(changed[target]),
        clean_rank=int(ranks[0]),
        rank=int(ranks[1]),
        top_ids=ids[1],
        top_probs=probs[1],
        top_tokens=readable_tokens(loaded.tokenizer, ids[1]),
        clean_top_ids=ids[0],
        clean_top_probs=probs[0],
        seconds=time.perf_counter() - started,
    )


def sweep_position(
    loaded,
    prefix: Sequence[int],
    target_id: int,
    method: str = "zero",
    scope: str = "moment",
    progress: Progress | None = None,
    mlps: bool = True,
    most_rows: int = 32,
):
    """The core over ids: log p(``target_id``) with each head, then (with ``mlps``) each MLP, ablated alone:
    ``(clean log p, [layers * heads (+ layers)] log p, ranks)``; ``most_rows`` variants per forward."""
    layout = layout_of(loaded)
    variants = [
        [Ablation("head", layer, head, method, scope)]
        for layer in range(layout.num_layers)
        for head in range(layout.num_heads)
    ]
    if mlps:
        variants += [[Ablation("mlp", layer, None, method, scope)] for layer in range(layout.num_layers)]
    read = read_moment(loaded, prefix)
    clean = float(read.logits.log_softmax(-1)[target_id])
    step = 32 * 8
    outs, ranks = [], []
    for start in range(0, len(variants), step):
        if progress is not None:
            progress(start / len(variants), f"Ablated {start} of {len(variants)} components…")
        log_probs = run_variants(loaded, read, variants[start : start + step], most_rows)
        outs.append(log_probs[:, target_id].cpu())
        ranks.append(_rank(log_probs, target_id).cpu())
    return clean, torch.cat(outs).numpy().astype(np.float32), torch.cat(ranks).numpy().astype(np.int64)


def ablation_sweep(
    loaded,
    trace: Trace,
    moment_index: int,
    method: str = "zero",
    scope: str = "moment",
    progress: Progress | None = None,
) -> AblationSweep:
    """Every head and every MLP of the model ablated alone at moment ``moment_index`` (``method`` zero or mean,
    ``scope`` the moment's position or every position); ``progress(fraction, message)`` hears how far it got."""
    Ablation("mlp", 0, None, method, scope)  # validates the method and scope
    started = time.perf_counter()
    prefix = moment_prefix(loaded, trace, moment_index)
    layout = layout_of(loaded)
    target = trace.moments[moment_index].token_id
    clean, log_probs, ranks = sweep_position(loaded, prefix, target, method, scope, progress)
    heads = layout.num_layers * layout.num_heads
    shape = (layout.num_layers, layout.num_heads)
    return AblationSweep(
        moment_index=moment_index,
        target_id=target,
        target_token=readable_token(loaded.tokenizer, target),
        method=method,
        scope=scope,
        clean_log_prob=clean,
        heads=log_probs[:heads].reshape(shape),
        mlps=log_probs[heads:],
        head_ranks=ranks[:heads].reshape(shape),
        mlp_ranks=ranks[heads:],
        seconds=time.perf_counter() - started,
    )
