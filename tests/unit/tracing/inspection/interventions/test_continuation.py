"""Continue from here: decoding on under an intervention, filed in the branch tree beside its parent; an
ablation at every position decodes as a copy of the model with that head's weights zeroed does."""

from __future__ import annotations

import pytest

from tests.unit.tracing.inspection.interventions.conftest import MOMENT, edited_copy
from tracing.experiments.branch import decode_on
from tracing.experiments.branch_tree import INTERVENTION_KEY, BranchTree
from tracing.inspection.interventions import Ablation, continue_under, grow_under

pytestmark = pytest.mark.slow


def copy_loaded(loaded, edit):
    from dataclasses import replace

    return replace(loaded, model=edited_copy(loaded, edit))


def test_an_everywhere_ablation_decodes_as_the_edited_copy(model_and_trace):
    loaded, trace = model_and_trace
    ablation = Ablation("head", 2, 1, "zero", "all")

    def edit(model):
        model.model.layers[2].self_attn.o_proj.weight[:, 64:128] = 0

    child = continue_under(loaded, trace, MOMENT, ablation)
    reference = decode_on(copy_loaded(loaded, edit), trace, MOMENT, [])
    assert [m.token_id for m in child.moments] == [m.token_id for m in reference.moments]
    for ours, theirs in zip(child.moments[MOMENT:], reference.moments[MOMENT:], strict=True):
        assert ours.prob == pytest.approx(theirs.prob, abs=1e-5)
    assert child.moments[:MOMENT] == trace.moments[:MOMENT]
    assert child.identity == trace.identity


def test_the_branch_is_filed_beside_its_parent_marked_with_the_intervention(smollm, short_trace):
    tree = BranchTree.from_trace(short_trace)
    ablation = Ablation("mlp", 29, method="mean")
    node = grow_under(tree, smollm, "root", MOMENT, ablation)
    assert node.parent == "root" and node.moment == MOMENT and tree.children("root") == [node]
    assert node.trace.info[INTERVENTION_KEY]["spec"] == ablation.to_dict()
    assert node.label == f"at moment {MOMENT}: MLP 29 mean-ablated at the moment's position"
    assert node.trace.moments[MOMENT].token_id != short_trace.moments[MOMENT].token_id or (
        node.trace.moments[MOMENT].prob != pytest.approx(short_trace.moments[MOMENT].prob, abs=1e-4)
    )


def test_a_bad_moment_is_named(smollm, short_trace):
    with pytest.raises(ValueError, match="moment 40 is not in this trace"):
        continue_under(smollm, short_trace, 40, Ablation("mlp", 1))
