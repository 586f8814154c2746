"""Continue from here: decode on from a moment with an intervention in place, and file the result in the trace's
branch tree beside its parent.

The branch shares its parent's moments before the moment; from the moment on every forward pass of the
step loop runs with the intervention's hooks (`model_zoo.seam.KVCacheSteps`' ``around``), installed under
the model's lock and removed before it is released. An ablation of scope "moment" acts at the moment's
position and every later one, "all" at the prefix too; a knockout blocks its keys for every later position.
"""

from __future__ import annotations

from tracing.core.trace import DecodingSettings, Trace
from tracing.experiments.branch import check_branch_point, decode_on
from tracing.experiments.branch_tree import INTERVENTION_KEY, BranchNode, BranchTree
from tracing.inspection.interventions import ablation  # noqa: F401  (registers the ablation and knockout hooks)
from tracing.inspection.interventions.hooks import around_forward
from tracing.inspection.interventions.moment import layout_of, read_moment
from tracing.inspection.interventions.specs import Intervention


def continue_under(
    loaded, trace: Trace, moment_index: int, intervention: Intervention, settings: DecodingSettings | None = None
) -> Trace:
    """The trace from moment ``moment_index`` on, decoded under ``intervention`` with ``settings`` (default:
    the trace's own; ``max_new_tokens`` counts the copied moments too)."""
    check_branch_point(loaded, trace, moment_index)
    layout = layout_of(loaded)
    prefix = trace.all_ids[: trace.prompt_len + moment_index]
    intervention.check(layout.num_layers, layout.num_heads, len(prefix))
    means = read_moment(loaded, prefix).means if getattr(intervention, "method", None) == "mean" else None
    around = around_forward(loaded, layout, [intervention], len(prefix) - 1, means)
    marks = {INTERVENTION_KEY: {"spec": intervention.to_dict(), "label": intervention.label}}
    return decode_on(loaded, trace, moment_index, [], settings, around=around, marks=marks)


def grow_under(
    tree: BranchTree,
    loaded,
    parent_id: str,
    moment_index: int,
    intervention: Intervention,
    settings: DecodingSettings | None = None,
) -> BranchNode:
    """Continues node ``parent_id`` of ``tree`` under ``intervention`` and adds the result beside its parent."""
    return tree.add(parent_id, continue_under(loaded, tree.node(parent_id).trace, moment_index, intervention, settings))
