"""Branches of a trace and branches of those: a `BranchTree`, saved and loaded as one bundle file.

Torch-free, so the components that draw a tree load without the engine; `branch.py` makes the branches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tracing.core.bundle import load_bundle, save_bundle
from tracing.core.token_text import span_text
from tracing.core.trace import Trace

BRANCH_KEY = "branch"
INTERVENTION_KEY = "intervention"  # {"spec": ..., "label": ...} of a branch decoded on under an intervention
BUNDLE_KIND = "branch-tree"
ROOT = "root"


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


def first_departure(parent: Trace, child: Trace) -> int | None:
    """The first moment at which ``child`` chose another token than ``parent`` (or one of them ended), None
    when they agree on every moment both have and end together."""
    for ours, theirs in zip(parent.moments, child.moments, strict=False):
        if ours.token_id != theirs.token_id:
            return ours.index
    shorter = min(len(parent.moments), len(child.moments))
    return None if len(parent.moments) == len(child.moments) else shorter


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
        if intervention := self.trace.info.get(INTERVENTION_KEY):
            return f"at moment {self.moment}: {intervention['label']}"
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
