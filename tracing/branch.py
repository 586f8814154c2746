"""What if the model had picked another token here? Branch a trace at a moment and decode on from there.

A branch keeps its parent's moments before the branch point (copied), forces one or more tokens at the
branch point (each recorded with its real probability and rank under the model) and then decodes with the
parent's settings. The shared prefix is read in one prefill pass that fills the KV cache, so the branch
costs one pass plus one step per new token, never a re-decode of the prefix.

A branch is a plain `Trace`; what makes it a branch is ``info["branch"]``: the branch moment, the forced
ids and their texts. Branches of branches form a `BranchTree`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from tracing.bundle import load_bundle, save_bundle
from tracing.decode import check_fits, eos_ids
from tracing.sampling import Choice, choose, forced_choice, make_generator
from tracing.stepping import run_steps
from tracing.token_text import readable_pieces, span_text
from tracing.tokens import readable_tokens
from tracing.trace import DecodingSettings, Trace

BRANCH_KEY = "branch"
BUNDLE_KIND = "branch-tree"
ROOT = "root"


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


def forced_change(trace: Trace) -> tuple[str, str]:
    """A branch's forced tokens and the token they replaced, as text read in context (so a character split
    over forced tokens reads whole); two empty strings for a trace that is not a branch."""
    meta = trace.info.get(BRANCH_KEY)
    if not meta:
        return "", ""
    start = trace.prompt_len + meta["moment"]
    forced = span_text(trace.token_pieces()[start : start + len(meta["forced_ids"])])
    replaced = trace.candidate_pieces(meta["moment"], [meta["replaced_token"]])[0]
    return forced, replaced.text


def forced_moments(trace: Trace) -> list[int]:
    """The moments of a branch whose tokens were forced (empty for a trace that is not a branch)."""
    meta = trace.info.get(BRANCH_KEY)
    if not meta:
        return []
    return list(range(meta["moment"], meta["moment"] + len(meta["forced_ids"])))


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
    if not isinstance(moment_index, int | np.integer) or not 0 <= moment_index < len(trace.moments):
        raise ValueError(
            f"moment {moment_index} is not in this trace (moments 0 to {len(trace.moments) - 1})."
            if trace.moments
            else "This trace has no moments to branch at."
        )
    loaded.identity.check_made(trace.identity, "branch")
    vocab = int(loaded.model.config.vocab_size)
    if bad := [t for t in forced if not 0 <= t < vocab]:
        raise ValueError(f"token id {bad[0]} is outside the vocabulary (0 to {vocab - 1}).")
    settings = (settings or trace.settings).validate()
    total = max(settings.max_new_tokens, moment_index + len(forced))
    settings = replace(settings, max_new_tokens=total)
    check_fits(loaded, trace.prompt_len, total)
    run, seed_used = _continue(loaded, trace, moment_index, forced, settings)
    moments = [copy.copy(m) for m in trace.moments[:moment_index]] + run.moments
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
        info={k: v for k, v in trace.info.items() if k != BRANCH_KEY}
        | {
            "seed_used": seed_used,
            BRANCH_KEY: {
                "moment": int(moment_index),
                "forced_ids": forced,
                "forced_tokens": readable_tokens(loaded.tokenizer, forced),
                "replaced_token": trace.moments[moment_index].token,
            },
        },
    )


def _continue(loaded, trace: Trace, moment_index: int, forced: list[int], settings: DecodingSettings):
    """The branch's new moments (forced, then chosen) after the parent's prefix, and the seed used."""
    generator, seed_used = make_generator(settings, loaded.device)

    def pick(index: int, logits: torch.Tensor) -> Choice:
        offset = index - moment_index
        if offset < len(forced):
            return forced_choice(logits, settings, forced[offset])
        return choose(logits, settings, generator)

    prefix = trace.all_ids[: trace.prompt_len + moment_index]
    return run_steps(loaded, prefix, moment_index, settings, pick, eos_ids(loaded)), seed_used


@dataclass
class BranchNode:
    """One trace of a tree; ``parent`` and ``moment`` say where it branched off (None for the root)."""

    id: str
    trace: Trace
    parent: str | None = None
    moment: int | None = None

    @property
    def label(self) -> str:
        if self.parent is None or not self.trace.info.get(BRANCH_KEY):
            return "original"
        forced, replaced = forced_change(self.trace)
        return f"at moment {self.moment}: '{forced}' instead of '{replaced}'"


@dataclass(eq=False)
class BranchTree:
    """A trace and every branch made from it (or from its branches), in the order they were made."""

    nodes: dict[str, BranchNode] = field(default_factory=dict)

    @classmethod
    def from_trace(cls, trace: Trace) -> BranchTree:
        return cls({ROOT: BranchNode(ROOT, trace)})

    @property
    def root(self) -> BranchNode:
        return self.nodes[ROOT]

    def node(self, node_id: str) -> BranchNode:
        if node_id not in self.nodes:
            raise KeyError(f"no branch {node_id!r} in this tree")
        return self.nodes[node_id]

    def add(self, parent_id: str, trace: Trace) -> BranchNode:
        """Files a branch of ``parent_id`` (its branch moment read from the trace) and returns its node."""
        self.node(parent_id)
        meta = trace.info.get(BRANCH_KEY)
        if not meta:
            raise ValueError("Only a branch (a trace made by branch()) can be added to a tree.")
        node = BranchNode(f"b{len(self.nodes)}", trace, parent_id, int(meta["moment"]))
        self.nodes[node.id] = node
        return node

    def grow(self, loaded, parent_id: str, moment_index: int, token_id, settings=None) -> BranchNode:
        """Branches node ``parent_id`` at ``moment_index`` and adds the branch to the tree."""
        return self.add(parent_id, branch(loaded, self.node(parent_id).trace, moment_index, token_id, settings))

    def children(self, node_id: str) -> list[BranchNode]:
        return [n for n in self.nodes.values() if n.parent == node_id]

    def path(self, node_id: str) -> list[BranchNode]:
        """The nodes from the root down to ``node_id``."""
        chain = [self.node(node_id)]
        while chain[-1].parent is not None:
            chain.append(self.nodes[chain[-1].parent])
        return chain[::-1]

    def walk(self) -> list[tuple[int, BranchNode]]:
        """(depth, node) for every node, depth first with children in the order made (for a tree picker)."""
        order: list[tuple[int, BranchNode]] = []

        def visit(node: BranchNode, depth: int) -> None:
            order.append((depth, node))
            for child in self.children(node.id):
                visit(child, depth + 1)

        visit(self.root, 0)
        return order

    def save(self, path: str | os.PathLike) -> Path:
        meta = {"nodes": [{"id": n.id, "parent": n.parent, "moment": n.moment} for n in self.nodes.values()]}
        return save_bundle(path, BUNDLE_KIND, meta, {n.id: n.trace for n in self.nodes.values()})


def load_branch_tree(path: str | os.PathLike) -> BranchTree:
    meta, traces = load_bundle(path, BUNDLE_KIND)
    return BranchTree({n["id"]: BranchNode(n["id"], traces[n["id"]], n["parent"], n["moment"]) for n in meta["nodes"]})
