"""What if the model had picked another token here? Branch a trace at a moment and decode on from there.

A branch keeps its parent's moments before the branch point (copied), forces one or more tokens at the
branch point (each recorded with its real probability and rank under the model) and then decodes with the
parent's settings. The shared prefix is read in one prefill pass that fills the KV cache, so the branch
costs one pass plus one step per new token, never a re-decode of the prefix.

A branch is a plain `Trace`; what makes it a branch is ``info["branch"]``: the branch moment, the forced
ids and their texts. Branches of branches form a `BranchTree` (``branch_tree.py``). A branch decoded on under
an intervention (`decode_on` with hooks around each forward, no token forced) is marked in
``info["intervention"]`` too.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from model_zoo.seam import AroundForward
from tracing.core.decode import check_fits, eos_ids
from tracing.core.sampling import Choice, choose, forced_choice, make_generator
from tracing.core.stepping import run_steps
from tracing.core.token_text import readable_pieces
from tracing.core.tokens import readable_tokens
from tracing.core.trace import DecodingSettings, Trace
from tracing.experiments.branch_tree import BRANCH_KEY, INTERVENTION_KEY, BranchNode, BranchTree


def token_ids_for(tokenizer, text: str, single: bool = False) -> list[int]:
    """The token ids of typed text (no special tokens added; a leading space matters, as in " blue").

    Raises ValueError when the text is empty, or is several tokens and ``single`` asks for one.
    """
    if not isinstance(text, str) or text == "":
        raise ValueError("The token text is empty: type the token to force (a leading space counts).")
    ids = [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    if not ids:
        raise ValueError(f"{text!r} gives no tokens under this tokenizer.")
    if single and len(ids) > 1:
        pieces = " + ".join(repr(p.marked) for p in readable_pieces(readable_tokens(tokenizer, ids)))
        raise ValueError(f"{text!r} is {len(ids)} tokens ({pieces}); type a single token, or force them all.")
    return ids


def check_branch_point(loaded, trace: Trace, moment_index: int) -> None:
    """Raises ValueError for a moment outside the trace or a model that did not make it."""
    if not isinstance(moment_index, int | np.integer) or not 0 <= moment_index < len(trace.moments):
        raise ValueError(
            f"moment {moment_index} is not in this trace (moments 0 to {len(trace.moments) - 1})."
            if trace.moments
            else "This trace has no moments to branch at."
        )
    loaded.identity.check_made(trace.identity, "branch")


def branch(
    loaded,
    trace: Trace,
    moment_index: int,
    token_id: int | Sequence[int],
    settings: DecodingSettings | None = None,
) -> Trace:
    """The trace ``trace`` would have been had ``token_id`` (or these ids, in order) been chosen at
    ``moment_index``, continued with ``settings`` (default: the trace's own).

    ``settings.max_new_tokens`` counts the whole branch, copied moments included (at least the forced
    tokens are kept). A seeded sampling branch draws from a fresh generator with that seed.
    Raises ValueError for a moment outside the trace, an id outside the vocabulary or another model.
    """
    forced = [int(token_id)] if isinstance(token_id, int | np.integer) else [int(t) for t in token_id]
    if not forced:
        raise ValueError("Give at least one token to force.")
    check_branch_point(loaded, trace, moment_index)
    vocab = int(loaded.model.config.vocab_size)
    if bad := [t for t in forced if not 0 <= t < vocab]:
        raise ValueError(f"token id {bad[0]} is outside the vocabulary (0 to {vocab - 1}).")
    return decode_on(loaded, trace, moment_index, forced, settings)


def decode_on(
    loaded,
    trace: Trace,
    moment_index: int,
    forced: list[int],
    settings: DecodingSettings | None = None,
    around: AroundForward | None = None,
    marks: dict | None = None,
) -> Trace:
    """The branch of ``trace`` at ``moment_index``: ``forced`` tokens first (none: the model chooses), then
    decoding with ``settings``, each forward wrapped by ``around``; ``marks`` joins the branch's ``info``
    (an intervention's description)."""
    settings = (settings or trace.settings).validate()
    total = max(settings.max_new_tokens, moment_index + max(len(forced), 1))
    settings = replace(settings, max_new_tokens=total)
    check_fits(loaded, trace.prompt_len, total)
    run, seed_used = _continue(loaded, trace, moment_index, forced, settings, around)
    moments = [copy.copy(m) for m in trace.moments[:moment_index]] + run.moments
    inherited = {k: v for k, v in trace.info.items() if k not in (BRANCH_KEY, INTERVENTION_KEY)}
    return Trace(
        model_id=trace.model_id,
        adapter=trace.adapter,
        prompt=trace.prompt,
        rendered_prompt=trace.rendered_prompt,
        prompt_ids=list(trace.prompt_ids),
        prompt_tokens=list(trace.prompt_tokens),
        settings=settings,
        moments=moments,
        stop_reason=run.stop_reason,
        text=loaded.tokenizer.decode([m.token_id for m in moments], skip_special_tokens=True),
        prefill_seconds=run.prefill_seconds,
        info=inherited
        | {
            "seed_used": seed_used,
            BRANCH_KEY: {
                "moment": int(moment_index),
                "forced_ids": forced,
                "forced_tokens": readable_tokens(loaded.tokenizer, forced),
                "replaced_token": trace.moments[moment_index].token,
            },
        }
        | (marks or {}),
    )


def _continue(loaded, trace: Trace, moment_index: int, forced: list[int], settings: DecodingSettings, around=None):
    """The branch's new moments (forced, then chosen) after the parent's prefix, and the seed used."""
    generator, seed_used = make_generator(settings, loaded.device)

    def pick(index: int, logits: torch.Tensor) -> Choice:
        offset = index - moment_index
        if offset < len(forced):
            return forced_choice(logits, settings, forced[offset])
        return choose(logits, settings, generator)

    prefix = trace.all_ids[: trace.prompt_len + moment_index]
    run = run_steps(loaded, prefix, moment_index, settings, pick, eos_ids(loaded), around=around)
    return run, seed_used


def grow_branch(tree: BranchTree, loaded, parent_id: str, moment_index: int, token_id, settings=None) -> BranchNode:
    """Branches node ``parent_id`` of ``tree`` at ``moment_index`` and adds the branch to the tree."""
    return tree.add(parent_id, branch(loaded, tree.node(parent_id).trace, moment_index, token_id, settings))
