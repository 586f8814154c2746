"""Ablation at a moment, checked against a deep copy of the model with weights edited: a head removed by a hook
equals the same head removed by zeroing its slice of o_proj's input weights; mean ablation equals that slice
zeroed with its mean output moved into o_proj's bias; an MLP equals its down projection zeroed. At the
moment's position only, the copy reads the clean prefix's KV cache and recomputes that one position."""

from __future__ import annotations

import pytest
import torch

from tests.unit.tracing.inspection.interventions.conftest import MOMENT, edited_copy, last_log_probs, prefix_of
from tracing.inspection.interventions import Ablation, ablation_sweep, intervene
from tracing.inspection.interventions.moment import layout_of, read_moment

pytestmark = pytest.mark.slow
LAYER, HEAD = 4, 2


def moment_only_log_probs(loaded, copy, prefix) -> torch.Tensor:
    """The copy at the prefix's last position, on the clean model's KV cache of the positions before it."""
    from transformers import DynamicCache

    cache = DynamicCache(config=loaded.model.config)
    ids = torch.tensor([prefix])
    with torch.inference_mode():
        loaded.model(input_ids=ids[:, :-1], past_key_values=cache, use_cache=True)
        out = copy(input_ids=ids[:, -1:], past_key_values=cache, use_cache=True)
    return out.logits[0, -1].float().log_softmax(-1)


def zero_head(layer, head):
    def edit(model):
        layout = layout_of_model(model)
        model.model.layers[layer].self_attn.o_proj.weight[:, layout.head_slice(head)] = 0

    return edit


def layout_of_model(model):
    from model_zoo.layout import layout_of_model

    return layout_of_model(model)


@pytest.mark.parametrize("scope", ["all", "moment"])
def test_a_hooked_head_ablation_equals_zeroing_its_o_proj_input_weights(model_and_trace, scope):
    loaded, trace = model_and_trace
    result = intervene(loaded, trace, MOMENT, Ablation("head", LAYER, HEAD, "zero", scope))
    copy = edited_copy(loaded, zero_head(LAYER, HEAD))
    prefix = prefix_of(trace)
    reference = last_log_probs(copy, prefix) if scope == "all" else moment_only_log_probs(loaded, copy, prefix)
    target = trace.moments[MOMENT].token_id
    assert result.log_prob == pytest.approx(float(reference[target]), abs=1e-5)
    assert result.rank == int((reference > reference[target]).sum()) + 1
    assert list(result.top_ids) == torch.topk(reference, len(result.top_ids)).indices.tolist()
    assert result.clean_log_prob == pytest.approx(float(torch.log(torch.tensor(trace.moments[MOMENT].prob))), abs=1e-4)


def test_mean_ablation_equals_the_slice_zeroed_and_its_mean_in_the_bias(smollm, short_trace):
    prefix = prefix_of(short_trace)
    mean = read_moment(smollm, prefix).means.head_inputs[LAYER, layout_of(smollm).head_slice(HEAD)]

    def edit(model):
        projection = model.model.layers[LAYER].self_attn.o_proj
        columns = layout_of_model(model).head_slice(HEAD)
        bias = projection.weight[:, columns] @ mean
        projection.weight[:, columns] = 0
        projection.bias = torch.nn.Parameter(bias)

    copy = edited_copy(smollm, edit)
    result = intervene(smollm, short_trace, MOMENT, Ablation("head", LAYER, HEAD, "mean", "all"))
    reference = last_log_probs(copy, prefix)
    assert result.log_prob == pytest.approx(float(reference[result.target_id]), abs=1e-5)


@pytest.mark.parametrize(
    ("ablation", "edit"),
    [
        (Ablation("mlp", LAYER), lambda m: m.model.layers[LAYER].mlp.down_proj.weight.zero_()),
        (Ablation("attention", LAYER), lambda m: m.model.layers[LAYER].self_attn.o_proj.weight.zero_()),
    ],
    ids=["mlp", "attention"],
)
def test_an_mlp_or_a_layers_attention_equals_its_projection_zeroed(smollm, short_trace, ablation, edit):
    result = intervene(smollm, short_trace, MOMENT, ablation)
    reference = moment_only_log_probs(smollm, edited_copy(smollm, edit), prefix_of(short_trace))
    assert result.log_prob == pytest.approx(float(reference[result.target_id]), abs=1e-5)


def test_the_sweep_gives_each_components_own_ablation(model_and_trace):
    loaded, trace = model_and_trace
    sweep = ablation_sweep(loaded, trace, MOMENT)
    layout = layout_of(loaded)
    assert sweep.heads.shape == (layout.num_layers, layout.num_heads)
    for layer, head in [(0, 0), (LAYER, HEAD), (layout.num_layers - 1, layout.num_heads - 1)]:
        alone = intervene(loaded, trace, MOMENT, Ablation("head", layer, head))
        # many variants per forward: another matrix shape, so float32 rounding differs by ~1e-5
        assert sweep.heads[layer, head] == pytest.approx(alone.log_prob, abs=1e-4)
        assert sweep.head_ranks[layer, head] == alone.rank
    alone = intervene(loaded, trace, MOMENT, Ablation("mlp", LAYER))
    assert sweep.mlps[LAYER] == pytest.approx(alone.log_prob, abs=1e-4)
    assert sweep.clean_log_prob == pytest.approx(alone.clean_log_prob, abs=1e-6)
    assert float(abs(sweep.head_deltas).max()) > 1e-3  # some head matters at this moment


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Ablation("head", 99, 0), "layer 99 is not a layer"),
        (lambda: Ablation("head", 0, 9), "head 9 is not a head"),
        (lambda: Ablation("head", 0, None), "name a head"),
        (lambda: Ablation("mlp", 0, method="median"), "'zero' or 'mean'"),
        (lambda: Ablation("mlp", 0, scope="later"), "'moment' or 'all'"),
        (lambda: Ablation("neuron", 0), "component must be one of"),
    ],
)
def test_bad_ablations_are_named(smollm, short_trace, make, message):
    with pytest.raises(ValueError, match=message):
        intervene(smollm, short_trace, MOMENT, make())


def test_a_bad_sweep_setting_is_named(smollm, short_trace):
    with pytest.raises(ValueError, match="'zero' or 'mean'"):
        ablation_sweep(smollm, short_trace, MOMENT, method="noise")
