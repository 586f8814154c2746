"""The branch trees a session keeps: one `BranchTree` per trace it has branched (the last few), each in the
process's trace store (``Held``) under the trace's key, so a tree is found again after its trace was spilled
and read back; a trace not branched yet has a tree of its own alone, kept nowhere. Every panel that grows a
tree (forced tokens, an intervention, steering) keeps it here and names the node to select next."""

from __future__ import annotations

import streamlit as st

from page_glue.session_memory import BRANCH_TREE_CODEC, hold
from page_glue.trace_cache import CurrentTrace
from page_glue.trace_store import Held
from tracing.experiments.branch_tree import BranchTree

TREES = "branch_trees"  # list[tuple[trace key, Held[BranchTree]]], newest last
PENDING = "branch_pending"  # node id to select on the next run (a new branch)
KEPT_TREES = 4


def held_tree(trace_key: str) -> Held[BranchTree] | None:
    """The session's kept tree of the trace under ``trace_key``, if it was branched."""
    return next((held for key, held in st.session_state.get(TREES, []) if key == trace_key), None)


def tree_for(current: CurrentTrace) -> BranchTree:
    """The session's tree of this trace: the kept one, or the trace alone."""
    held = held_tree(current.key)
    return held.get() if held is not None else BranchTree.from_trace(current.trace)


def keep_tree(trace_key: str, tree: BranchTree) -> None:
    """Keeps a tree that has just grown (a changed tree is put back, so a spill writes the new branch)."""
    held = held_tree(trace_key)
    if held is not None:
        held.update(tree)
        return
    trees: list = st.session_state.setdefault(TREES, [])
    trees.append((trace_key, hold(tree, BRANCH_TREE_CODEC)))
    del trees[:-KEPT_TREES]
