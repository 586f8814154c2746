"""Activation patching at a moment: the user edits prompt tokens (the corrupted run); the clean run's residual
stream (the input of one layer at one position) is written into the corrupted run, one (layer, position) at
a time, and the moment's score measured.

A patch at position p leaves every position before p as the corrupted run had it, so all patches at p
share the corrupted run's KV cache up to p and recompute only the positions from p on, every layer's patch
at p as one row of the same forward. Positions before the first edited token are the same in both runs, so
patching there changes nothing; they are not computed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from tracing.core.decode import render_prompt
from tracing.core.tokens import readable_token, readable_tokens
from tracing.core.trace import Trace
from tracing.inspection.interventions.hooks import Edits, installed
from tracing.inspection.interventions.moment import layout_of, moment_prefix, repeated_cache, rows_per_pass
from tracing.inspection.interventions.results import Patching

Progress = Callable[[float, str], None]
Site = tuple[int, int]  # (layer whose input is patched, absolute position)


def corrupted_prefix(loaded, trace: Trace, moment_index: int, corrupted_prompt: str) -> list[int]:
    """The moment's prefix with the prompt replaced by ``corrupted_prompt`` (rendered as the trace's prompt
    was) and the generated tokens kept. ValueError unless it has as many tokens as the clean prompt and
    differs from it."""
    clean = moment_prefix(loaded, trace, moment_index, "patch")
    _, ids = render_prompt(loaded, corrupted_prompt, trace.settings.use_chat_template)
    if len(ids) != trace.prompt_len:
        raise ValueError(
            f"The edited prompt is {len(ids)} tokens (chat template included) and the original {trace.prompt_len}: "
            "patching pairs the runs position by position, so replace words by words of as many tokens."
        )
    if ids == list(trace.prompt_ids):
        raise ValueError("The edited prompt is the same tokens as the original: change at least one token.")
    return ids + clean[trace.prompt_len :]


def _metric(log_probs: torch.Tensor, target_id: int, contrast_id: int | None) -> torch.Tensor:
    """log p(target) (- log p(contrast)) per row of ``[rows, vocab]`` log-probabilities."""
    score = log_probs[:, target_id]
    return score - log_probs[:, contrast_id] if contrast_id is not None else score


def layer_inputs(loaded, ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every layer's input (the residual stream) at every position, ``[layers, positions, hidden]``, and the
    last position's log-probabilities ``[vocab]``, from one clean forward."""
    layout = layout_of(loaded)
    captured: list[torch.Tensor] = [None] * layout.num_layers
    edits = Edits(loaded, layout)
    for layer, module in enumerate(layout.layers(loaded.base_model)):

        def keep(_module, args, kwargs, layer=layer):
            captured[layer] = (args[0] if args else kwargs["hidden_states"])[0].clone()

        edits.hooks.append((module, "pre-kwargs", keep))
    inputs = torch.tensor([list(ids)], dtype=torch.long, device=loaded.device)
    with installed(edits):
        logits = loaded.forward(inputs, keep=1).logits
    return torch.stack(captured), logits[0, -1].float().log_softmax(-1)


def patched_log_probs(
    loaded, corrupted: Sequence[int], clean_inputs: torch.Tensor, sites: Sequence[Site]
) -> torch.Tensor:
    """The reference: one full forward of the corrupted ids with the clean layer inputs written at every site
    at once; the last position's log-probabilities ``[vocab]``."""
    layout = layout_of(loaded)
    edits = Edits(loaded, layout)
    layers = layout.layers(loaded.base_model)
    for layer, position in sites:
        edits.set_residual(layers[layer], None, position, clean_inputs[layer, position])
    inputs = torch.tensor([list(corrupted)], dtype=torch.long, device=loaded.device)
    with installed(edits):
        logits = loaded.forward(inputs, keep=1).logits
    return logits[0, -1].float().log_softmax(-1)


def check_positions(positions: Sequence[int] | None, changed: Sequence[int], length: int) -> list[int]:
    """The positions to patch, sorted: every position from the first changed one by default; ValueError for a
    position outside the prefix. Positions before the first change are dropped (patching there is a no-op)."""
    if positions is None:
        return list(range(changed[0], length))
    chosen = sorted({int(p) for p in positions})
    if bad := [p for p in chosen if not 0 <= p < length]:
        raise ValueError(f"position {bad[0]} is not in the moment's prefix (positions 0 to {length - 1}).")
    chosen = [p for p in chosen if p >= changed[0]]
    if not chosen:
        raise ValueError(f"Patch at least one position from the first edited one ({changed[0]}) on.")
    return chosen


def patching_sweep(
    loaded,
    clean: Sequence[int],
    corrupted: Sequence[int],
    target_id: int,
    contrast_id: int | None = None,
    layers: Sequence[int] | None = None,
    positions: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> dict:
    """The core over ids: the score after patching each (layer in ``layers``, position in ``positions``), as
    a dict of `Patching` fields (``metric`` ``[layers, positions]``). ``layers`` default to all; ``positions``
    to every position from the first that differs (a patch at position p recomputes every position from p,
    so early positions cost the most)."""
    from transformers import DynamicCache

    layout = layout_of(loaded)
    clean, corrupted = [int(i) for i in clean], [int(i) for i in corrupted]
    if len(clean) != len(corrupted):
        raise ValueError(f"The runs must be as long: {len(clean)} clean tokens, {len(corrupted)} corrupted.")
    changed = [i for i, (a, b) in enumerate(zip(clean, corrupted, strict=True)) if a != b]
    if not changed:
        raise ValueError("The corrupted run is the same tokens as the clean one: edit at least one token.")
    layers = list(range(layout.num_layers)) if layers is None else sorted({layout.check_layer(int(x)) for x in layers})
    clean_inputs, clean_log_probs = layer_inputs(loaded, clean)
    positions = check_positions(positions, changed, len(clean))
    metric = np.zeros((len(layers), len(positions)), dtype=np.float32)
    cache = DynamicCache(config=loaded.model.config)
    ids = torch.tensor([corrupted], dtype=torch.long, device=loaded.device)
    modules = layout.layers(loaded.base_model)
    chunk = rows_per_pass(loaded, len(clean))
    with torch.inference_mode():
        if len(corrupted) > 1:
            loaded.forward(ids[:, :-1], cache=cache, keep=1)
        corrupted_log_probs = loaded.forward(ids, keep=1).logits[0, -1].float().log_softmax(-1)
        for done, column in enumerate(reversed(range(len(positions)))):
            position = positions[column]
            if progress is not None:
                progress(done / len(positions), f"Patched {done} of {len(positions)} positions…")
            cache.crop(position - cache.get_seq_length())  # the corrupted run's cache before this position
            for start in range(0, len(layers), chunk):
                group = layers[start : start + chunk]
                edits = Edits(loaded, layout, position)
                for row, layer in enumerate(group):
                    edits.set_residual(modules[layer], [row], position, clean_inputs[layer, position])
                rows = repeated_cache(loaded, cache, len(group))
                with installed(edits):
                    logits = loaded.forward(ids[:, position:].expand(len(group), -1), cache=rows, keep=1).logits
                scores = _metric(logits[:, -1].float().log_softmax(-1), target_id, contrast_id)
                metric[start : start + len(group), column] = scores.cpu().numpy()
    return {
        "layers": np.asarray(layers, dtype=np.int64),
        "positions": np.asarray(positions, dtype=np.int64),
        "changed": np.asarray(changed, dtype=np.int64),
        "clean_metric": float(_metric(clean_log_probs[None], target_id, contrast_id)[0]),
        "corrupted_metric": float(_metric(corrupted_log_probs[None], target_id, contrast_id)[0]),
        "metric": metric,
    }


def patch_moment(
    loaded,
    trace: Trace,
    moment_index: int,
    corrupted_prompt: str,
    contrast_id: int | None = None,
    layers: Sequence[int] | None = None,
    positions: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> Patching:
    """Activation patching at moment ``moment_index``: the trace's prompt against ``corrupted_prompt`` (as many
    tokens), scored by log p of the moment's token (minus log p of ``contrast_id``), at ``layers`` x
    ``positions`` (see `patching_sweep`)."""
    started = time.perf_counter()
    clean = moment_prefix(loaded, trace, moment_index, "patch")
    corrupted = corrupted_prefix(loaded, trace, moment_index, corrupted_prompt)
    target = trace.moments[moment_index].token_id
    if contrast_id is not None and int(contrast_id) == target:
        raise ValueError("The runner-up must be another token than the moment's.")
    found = patching_sweep(loaded, clean, corrupted, target, contrast_id, layers, positions, progress)
    return Patching(
        moment_index=moment_index,
        target_id=target,
        target_token=readable_token(loaded.tokenizer, target),
        contrast_id=None if contrast_id is None else int(contrast_id),
        clean_tokens=readable_tokens(loaded.tokenizer, clean),
        corrupted_tokens=readable_tokens(loaded.tokenizer, corrupted),
        seconds=time.perf_counter() - started,
        **found,
    )
