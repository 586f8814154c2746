"""Attribute one moment or many: over token ids (the core), or over a Trace's moments (thin wrappers).

The core takes ids, so it works for any sequence: ``ids[P]`` is explained from ``ids[:P]``. The Trace
wrappers read only ``prompt_ids``, ``moments[i].token_id`` and ``moments[i].top_ids``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from tracing.inspection.attribution.registry import get_method
from tracing.inspection.attribution.results import Attribution, AttributionMatrix, AttributionSettings
from tracing.inspection.attribution.scoring import model_session
from tracing.inspection.attribution.targets import make_targets

DEFAULT_METHOD = "integrated_gradients"


def attribute_positions(
    loaded,
    ids: Sequence[int],
    target_positions: Sequence[int],
    *,
    method: str = DEFAULT_METHOD,
    settings: AttributionSettings | None = None,
    prompt_length: int | None = None,
    contrast_ids: Sequence[int | None] | None = None,
) -> AttributionMatrix:
    """Attributions of ``ids[P]`` for every P in ``target_positions``, computed together: ``[moments, positions]``.

    ``prompt_length`` is needed with ``settings.prompt_only`` (and sets the result's moment indices);
    ``contrast_ids[m]`` (or None) makes row m explain ``log p(ids[P]) - log p(contrast)``. Raises ValueError
    for a bad request or a method that cannot run on this model.
    """
    settings = settings or AttributionSettings()
    chosen = get_method(method)
    chosen.check(loaded)
    vocab = getattr(loaded.model.config, "vocab_size", None)
    targets = make_targets(
        loaded.tokenizer,
        ids,
        target_positions,
        settings=settings,
        prompt_length=prompt_length,
        contrast_ids=contrast_ids,
        vocab_size=vocab,
    )
    start = time.perf_counter()
    with model_session(loaded, for_gradients=chosen.needs_gradients) as model:
        output = chosen.run(model, targets)
    seconds = time.perf_counter() - start
    scores = targets.covered(output.scores)
    unattributed = ~targets.attributed(targets.width).cpu().numpy()
    scores[:, unattributed] = np.where(np.isnan(scores[:, unattributed]), np.nan, 0.0)
    return AttributionMatrix(
        method=chosen.name,
        target_positions=targets.positions,
        target_ids=targets.target_ids,
        contrast_ids=targets.contrast_ids,
        scores=scores,
        positions=settings.positions,
        prompt_length=targets.prompt_length,
        target_scores=output.target_scores.astype(np.float32),
        deltas=None if output.deltas is None else output.deltas.astype(np.float32),
        seconds=seconds,
        settings=targets.settings,
    )


def attribute_position(
    loaded,
    ids: Sequence[int],
    target_position: int,
    *,
    method: str = DEFAULT_METHOD,
    settings: AttributionSettings | None = None,
    prompt_length: int | None = None,
    contrast_id: int | None = None,
) -> Attribution:
    """The attribution of ``ids[target_position]`` to the positions before it (or to the prompt)."""
    matrix = attribute_positions(
        loaded,
        ids,
        [target_position],
        method=method,
        settings=settings,
        prompt_length=prompt_length,
        contrast_ids=[contrast_id],
    )
    one = matrix.row(0)
    one.seconds = matrix.seconds
    return one


def _trace_ids(loaded, trace) -> list[int]:
    loaded.identity.check_made(trace.identity, "attribute")
    return list(trace.prompt_ids) + [int(m.token_id) for m in trace.moments]


def _check_moment(trace, index: int) -> None:
    if not 0 <= index < len(trace.moments):
        raise ValueError(f"Moment {index} does not exist: this trace has {len(trace.moments)} moments.")


def contrast_choices(trace, moment_index: int) -> list[int]:
    """The ids a contrast may name at a moment: its recorded top-k tokens other than the chosen one."""
    _check_moment(trace, moment_index)
    moment = trace.moments[moment_index]
    return [int(i) for i in moment.top_ids if int(i) != int(moment.token_id)]


def _check_contrast(trace, moment_index: int, contrast_id: int | None) -> None:
    if contrast_id is not None and int(contrast_id) not in contrast_choices(trace, moment_index):
        raise ValueError(
            f"Contrast token {contrast_id} is not among moment {moment_index}'s top-k alternatives; "
            "pick one of the tokens the model considered."
        )


def attribute_moment(
    loaded,
    trace,
    moment_index: int,
    *,
    method: str = DEFAULT_METHOD,
    settings: AttributionSettings | None = None,
    contrast_id: int | None = None,
) -> Attribution:
    """One moment of a trace: why the model chose its token (rather than ``contrast_id``, from its top-k)."""
    _check_moment(trace, moment_index)
    _check_contrast(trace, moment_index, contrast_id)
    prompt_length = len(trace.prompt_ids)
    return attribute_position(
        loaded,
        _trace_ids(loaded, trace),
        prompt_length + moment_index,
        method=method,
        settings=settings,
        prompt_length=prompt_length,
        contrast_id=contrast_id,
    )


def attribute_trace(
    loaded,
    trace,
    *,
    method: str = DEFAULT_METHOD,
    settings: AttributionSettings | None = None,
    moments: Sequence[int] | None = None,
    contrast_ids: Sequence[int | None] | None = None,
) -> AttributionMatrix:
    """Every moment of a trace (or those listed) at once: a ``[moments, positions]`` matrix."""
    moments = list(range(len(trace.moments))) if moments is None else [int(m) for m in moments]
    if not moments:
        raise ValueError("This trace has no moments to attribute.")
    contrast_ids = list(contrast_ids) if contrast_ids is not None else [None] * len(moments)
    for index, contrast in zip(moments, contrast_ids, strict=True):
        _check_moment(trace, index)
        _check_contrast(trace, index, contrast)
    prompt_length = len(trace.prompt_ids)
    return attribute_positions(
        loaded,
        _trace_ids(loaded, trace),
        [prompt_length + m for m in moments],
        method=method,
        settings=settings,
        prompt_length=prompt_length,
        contrast_ids=contrast_ids,
    )
