"""Continue from here under steering: decode on from a moment with a steering vector added, and file the result
in the trace's branch tree beside the unsteered path (the same shape as an intervention's continuation)."""

from __future__ import annotations

from tracing.core.trace import DecodingSettings, Trace
from tracing.experiments.branch import check_branch_point, decode_on
from tracing.experiments.branch_tree import INTERVENTION_KEY, BranchNode, BranchTree
from tracing.inspection.steering.apply import Steering, around_steering, steering_start


def continue_steered(
    loaded, trace: Trace, moment_index: int, steering: Steering, settings: DecodingSettings | None = None
) -> Trace:
    """The trace from moment ``moment_index`` on, decoded with ``steering`` (``settings`` default to the
    trace's own; ``max_new_tokens`` counts the copied moments too). With ``start="prompt"`` the prefix is
    read steered as well."""
    check_branch_point(loaded, trace, moment_index)
    steering.check(loaded)
    prefix_len = trace.prompt_len + moment_index
    around = around_steering(loaded, steering, steering_start(steering, prefix_len))
    marks = {INTERVENTION_KEY: {"spec": steering.to_dict(), "label": steering.label}}
    return decode_on(loaded, trace, moment_index, [], settings, around=around, marks=marks)


def grow_steered(
    tree: BranchTree,
    loaded,
    parent_id: str,
    moment_index: int,
    steering: Steering,
    settings: DecodingSettings | None = None,
) -> BranchNode:
    """Continues node ``parent_id`` of ``tree`` under ``steering`` and adds the result beside its parent."""
    return tree.add(parent_id, continue_steered(loaded, tree.node(parent_id).trace, moment_index, steering, settings))
