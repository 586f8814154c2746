"""Branching a trace at a moment: the continuation equals decoding the edited prefix from scratch, the
shared prefix is read in one prefill, and branches form a navigable tree."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tests.conftest import CJK_ANSWER
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.experiments.branch import branch, grow_branch, token_ids_for
from tracing.experiments.branch_tree import BranchNode, BranchTree, forced_change, forced_moments, load_branch_tree

PROMPT = "Name three colours."
SETTINGS = DecodingSettings(max_new_tokens=8, stop_at_eos=False)
BRANCH_AT = 2


@pytest.fixture(scope="module")
def parent(smollm):
    return trace_generation(smollm, PROMPT, SETTINGS)


@pytest.fixture(scope="module")
def runner_up(parent) -> int:
    """The second most likely token at the branch moment (the one greedy decoding passed over)."""
    return int(parent.moments[BRANCH_AT].top_ids[1])


@pytest.fixture(scope="module")
def child(smollm, parent, runner_up):
    return branch(smollm, parent, BRANCH_AT, runner_up)


def greedy_from_scratch(loaded, ids: list[int], steps: int) -> tuple[list[int], list[float]]:
    """Greedy decoding with one full forward pass (no cache) per token; returns tokens and their probs."""
    ids, tokens, probs = list(ids), [], []
    with torch.inference_mode():
        for _ in range(steps):
            logits = loaded.model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]
            p = torch.softmax(logits.double(), -1)
            token = int(p.argmax())
            tokens.append(token)
            probs.append(float(p[token]))
            ids.append(token)
    return tokens, probs


@pytest.mark.slow
def test_branch_continues_as_decoding_the_edited_prefix_from_scratch(smollm, parent, child, runner_up):
    edited = parent.all_ids[: parent.prompt_len + BRANCH_AT] + [runner_up]
    tokens, probs = greedy_from_scratch(smollm, edited, SETTINGS.max_new_tokens - BRANCH_AT - 1)
    after = child.moments[BRANCH_AT + 1 :]
    assert [m.token_id for m in after] == tokens
    np.testing.assert_allclose([m.prob for m in after], probs, atol=1e-4)
    assert child.generated_ids == parent.generated_ids[:BRANCH_AT] + [runner_up] + tokens


@pytest.mark.slow
def test_the_forced_moment_records_its_real_probability_and_rank(smollm, parent, child, runner_up):
    forced = child.moments[BRANCH_AT]
    expected = parent.moments[BRANCH_AT]
    assert forced.token_id == runner_up and forced.rank == 2
    assert forced.prob == pytest.approx(float(expected.top_probs[1]), rel=1e-4)
    np.testing.assert_array_equal(forced.top_ids, expected.top_ids)
    np.testing.assert_allclose(forced.attention.astype(np.float32), expected.attention.astype(np.float32), atol=2e-3)
    assert forced_moments(child) == [BRANCH_AT] and forced_moments(parent) == []
    meta = child.info["branch"]
    assert meta["moment"] == BRANCH_AT and meta["forced_ids"] == [runner_up]
    assert meta["replaced_token"] == parent.moments[BRANCH_AT].token


@pytest.mark.slow
def test_moments_before_the_branch_are_the_parents(parent, child):
    assert child.moments[:BRANCH_AT] == parent.moments[:BRANCH_AT]
    assert child.moments[0] is not parent.moments[0]  # copies: editing a branch never edits its parent
    assert (child.prompt_ids, child.model_id, child.adapter) == (parent.prompt_ids, parent.model_id, parent.adapter)
    assert len(child.moments) == SETTINGS.max_new_tokens


class CountingModel:
    """Wraps a model and records the length of every forward pass's input."""

    def __init__(self, model):
        self._model, self.lengths = model, []

    def __call__(self, input_ids, **kwargs):
        self.lengths.append(int(input_ids.shape[1]))
        return self._model(input_ids=input_ids, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


@pytest.mark.slow
def test_the_shared_prefix_is_read_once_and_several_tokens_can_be_forced(smollm, parent):
    counting = dataclasses.replace(smollm, model=CountingModel(smollm.model))
    forced = token_ids_for(smollm.tokenizer, " bright blue")
    assert len(forced) == 2
    result = branch(counting, parent, 1, forced, dataclasses.replace(SETTINGS, max_new_tokens=5))
    # the prefix (prompt and moment 0) in one pass but its last token, which the step of moment 1 reads
    # (model_zoo.step_scheduler), then the two forced tokens and one more
    assert counting.model.lengths == [parent.prompt_len, 1, 1, 1, 1]
    assert result.generated_ids[1:3] == forced and forced_moments(result) == [1, 2]
    assert len(result.moments) == 5


@pytest.mark.slow
def test_branches_form_a_tree(tmp_path, smollm, parent, child, runner_up):
    tree = BranchTree.from_trace(parent)
    first = tree.add("root", child)
    second = grow_branch(
        tree, smollm, first.id, 4, int(child.moments[4].top_ids[1]), dataclasses.replace(SETTINGS, max_new_tokens=6)
    )
    sibling = tree.add("root", child)
    assert [n.id for n in tree.path(second.id)] == ["root", first.id, second.id]
    assert [(depth, n.id) for depth, n in tree.walk()] == [(0, "root"), (1, first.id), (2, second.id), (1, sibling.id)]
    assert tree.children("root") == [first, sibling] and second.moment == 4
    assert second.trace.moments[:4] == child.moments[:4]
    assert "instead of" in second.label and tree.root.label == "original"
    loaded = load_branch_tree(tree.save(tmp_path / "tree.zip"))
    assert list(loaded.nodes) == list(tree.nodes)
    assert all(loaded.nodes[k].trace == tree.nodes[k].trace for k in tree.nodes)
    assert loaded.node(second.id).parent == first.id


def test_typed_text_becomes_token_ids_or_a_clear_error(smollm):
    (blue,) = token_ids_for(smollm.tokenizer, " blue", single=True)
    assert smollm.tokenizer.decode([blue]) == " blue"
    with pytest.raises(ValueError, match="empty"):
        token_ids_for(smollm.tokenizer, "")
    with pytest.raises(ValueError, match="is 2 tokens"):
        token_ids_for(smollm.tokenizer, " bright blue", single=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "token", "message"),
    [(99, 5, "moment 99 is not in this trace"), (-1, 5, "not in this trace"), (0, 10**7, "outside the vocabulary"),
     (0, [], "at least one token")],
)  # fmt: skip
def test_bad_branches_are_refused(smollm, parent, moment, token, message):
    with pytest.raises(ValueError, match=message):
        branch(smollm, parent, moment, token)


@pytest.mark.slow
def test_a_trace_of_another_model_is_refused(smollm, parent):
    other = dataclasses.replace(parent, adapter="smollm2-135m-instruct+someone")
    with pytest.raises(ValueError, match="made by 'smollm2-135m-instruct\\+someone'"):
        branch(smollm, other, 0, 5)


def test_a_branch_forcing_chinese_names_it_as_characters(cjk_trace):
    forced, replaced = forced_change(cjk_trace)
    assert forced == CJK_ANSWER
    assert replaced and "\\x" not in replaced
    node = BranchNode("b1", cjk_trace, parent="root", moment=0)
    assert node.label == f"at moment 0: '{CJK_ANSWER}' instead of '{replaced}'"
