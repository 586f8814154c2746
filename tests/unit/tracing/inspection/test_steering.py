"""Steering on the offline model (a Llama) and on tiny random GPT-2, Gemma 2, Phi and OPT models built from configs:
strength 0 leaves the trace bit for bit; a steering hook equals the vector added as a bias to the layer's
last write in a copy of the model; the difference of means equals one read from a plain forward's
``output_hidden_states``; a sweep's batched rows give the tokens each strength gives alone."""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.tiny_decoders import CONFIGS, save_tiny_decoder, with_layers
from tracing.core.decode import render_prompt, trace_generation
from tracing.core.trace import DecodingSettings
from tracing.experiments.branch import decode_on
from tracing.experiments.branch_tree import INTERVENTION_KEY, BranchTree
from tracing.inspection.steering.apply import Steering, steered
from tracing.inspection.steering.continuation import continue_steered, grow_steered
from tracing.inspection.steering.make import contrast_vector, token_vector
from tracing.inspection.steering.sweep import steering_sweep
from tracing.inspection.steering.vector import SteeringVector, load_vector, read_vector_file, save_vector, saved_names

POSITIVE = ["I love this, it is wonderful and happy.", "What a great, joyful day!"]
NEGATIVE = ["I hate this, it is awful and sad.", "What a terrible, miserable day!"]
PROMPT = "The weather today is"
SETTINGS = DecodingSettings(max_new_tokens=8, use_chat_template=False, stop_at_eos=False)
STEERED = ["gpt2", "gemma2", "phi", "opt"]  # LayerNorm, post-norms, attention and MLP side by side, OPT's MLP


@pytest.fixture(scope="module", params=["llama", *STEERED])
def model(request, smollm, tmp_path_factory):
    """The offline model, or a tiny random one of the family saved and loaded as a user's folder."""
    if request.param == "llama":
        return smollm
    from model_zoo import load_model

    settings = with_layers(CONFIGS[request.param], 3)
    folder = save_tiny_decoder(request.param, settings, smollm.tokenizer, tmp_path_factory.mktemp(request.param), 3)
    return load_model(folder, device="cpu")


@pytest.fixture(scope="module")
def trace(model):
    return trace_generation(model, PROMPT, SETTINGS)


@pytest.fixture(scope="module")
def vector(model):
    return contrast_vector(model, "joy", POSITIVE, NEGATIVE, layer=1)


def steering(vector, strength: float, start: str = "moment") -> Steering:
    return Steering(vector, strength, start=start)


def test_strength_zero_gives_the_unsteered_trace_bit_for_bit(model, trace, vector):
    steered_trace = continue_steered(model, trace, 2, steering(vector, 0.0, "prompt"))
    # the unsteered reference runs alone too (a stream with hooks never joins the batch, whose rows round
    # differently in the last bits), with an ``around`` that installs nothing
    plain = decode_on(model, trace, 2, [], around=lambda first: nullcontext())
    assert [m.token_id for m in steered_trace.moments] == [m.token_id for m in plain.moments]
    for ours, theirs in zip(steered_trace.moments, plain.moments, strict=True):
        assert ours.prob == theirs.prob and ours.entropy == theirs.entropy
        assert np.array_equal(ours.top_probs, theirs.top_probs)
        assert np.array_equal(ours.attention, theirs.attention)


class Biased(torch.nn.Module):
    """A module whose output gets ``bias`` added: the reference for a steering hook."""

    def __init__(self, inner: torch.nn.Module, bias: torch.Tensor) -> None:
        super().__init__()
        self.inner, self.bias = inner, bias

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs) + self.bias


def biased_copy(model, layer: int, bias: torch.Tensor) -> torch.nn.Module:
    """A copy of the model whose layer ``layer`` adds ``bias`` with its last write to the residual stream (the
    MLP's output, or the norm after it where the family has one)."""
    layout = model.layout
    twin = copy.deepcopy(model.base_model)
    block = layout.layers(twin)[layer]
    name = layout.family.mlp_out_norm or layout.family.mlp
    setattr(block, name, Biased(getattr(block, name), bias))
    return twin


def test_a_steering_hook_equals_a_bias_added_in_a_copy_of_the_model(model, trace, vector):
    strength = 4.0
    bias = strength * torch.as_tensor(vector.vector)
    twin = biased_copy(model, vector.layer, bias)
    ids = torch.tensor([trace.all_ids])
    with torch.inference_mode():
        expected = twin(input_ids=ids, use_cache=False).logits[0].float()
        with steered(model, steering(vector, strength, "prompt"), first=0, start=0):
            actual = model.forward(ids).logits[0].float()
        plain = model.forward(ids).logits[0].float()
    assert not torch.allclose(plain, expected, atol=1e-3)  # the bias changes the output
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)

    # decoded on the KV cache from moment 0 with the prompt steered: the copy's probabilities of its tokens
    branch = continue_steered(model, trace, 0, steering(vector, strength, "prompt"))
    with torch.inference_mode():
        log_probs = twin(input_ids=torch.tensor([branch.all_ids]), use_cache=False).logits[0].float().log_softmax(-1)
    for moment in branch.moments:
        position = branch.prompt_len + moment.index - 1
        assert moment.prob == pytest.approx(float(log_probs[position, moment.token_id].exp()), abs=1e-4)


@pytest.mark.parametrize("reduce", ["last", "mean"])
def test_the_difference_of_means_equals_a_plain_forwards_hidden_states(model, reduce):
    layer = 1
    made = contrast_vector(model, "joy", POSITIVE, NEGATIVE, layer=layer, reduce=reduce)

    def mean_state(prompts):
        rows = []
        for prompt in prompts:
            _, ids = render_prompt(model, prompt, use_chat_template=False)
            with torch.inference_mode():
                states = model.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
            row = states[layer + 1][0].double()  # hidden_states[0] is the embeddings
            rows.append(row[-1] if reduce == "last" else row.mean(0))
        return torch.stack(rows).mean(0)

    expected = (mean_state(POSITIVE) - mean_state(NEGATIVE)).float().numpy()
    np.testing.assert_allclose(made.vector, expected, rtol=1e-5, atol=1e-5)
    assert made.norm == pytest.approx(float(np.linalg.norm(expected)), rel=1e-5)


@pytest.mark.parametrize("start", ["moment", "prompt"])
def test_a_sweep_under_batching_gives_the_tokens_of_each_strength_alone(model, trace, vector, start):
    strengths = [-8.0, 4.0, 8.0]
    sweep = steering_sweep(model, trace, 1, steering(vector, 1.0, start), strengths, steps=5)
    assert sweep.strengths == [-8.0, 0.0, 4.0, 8.0]
    greedy = replace(SETTINGS, max_new_tokens=6)
    for row, strength in enumerate(sweep.strengths):
        alone = continue_steered(model, trace, 1, steering(vector, strength, start), greedy)
        assert [m.token_id for m in alone.moments[1:]] == sweep.token_ids[row].tolist()
        np.testing.assert_allclose([m.prob for m in alone.moments[1:]], sweep.probs[row], rtol=1e-4, atol=1e-5)
    assert sweep.token_ids[sweep.baseline].tolist() == [m.token_id for m in trace.moments[1:6]]


def test_the_steered_path_is_filed_beside_the_unsteered_one(smollm, tmp_path):
    trace = trace_generation(smollm, "Tell me about your day.", replace(SETTINGS, use_chat_template=True))
    vector = contrast_vector(smollm, "joy", POSITIVE, NEGATIVE, layer=12)
    tree = BranchTree.from_trace(trace)
    node = grow_steered(tree, smollm, "root", 1, steering(vector, 12.0))
    assert node.parent == "root" and node.moment == 1
    assert node.trace.info[INTERVENTION_KEY]["spec"]["vector"]["name"] == "joy"
    assert "steered: 'joy' × 12" in node.label
    assert [m.token_id for m in node.trace.moments] != [m.token_id for m in trace.moments]


def test_saved_vectors_are_listed_loaded_and_refused_for_another_model(smollm, tmp_path):
    made = token_vector(smollm, "blue", " blue", layer=3)
    assert made.norm > 0 and made.source["kind"] == "token"
    path = save_vector(made, tmp_path)
    assert saved_names(tmp_path) == ["blue"] and saved_names(tmp_path, model_id="other") == []
    again = load_vector("blue", tmp_path)
    assert np.array_equal(again.vector, made.vector) and again.describe() == made.describe()
    assert read_vector_file(path).layer == 3
    with pytest.raises(ValueError, match="was made on"):
        replace(again, model_id="other-model").check_for(smollm.identity.base, again.hidden_size)
    with pytest.raises(ValueError, match="has 3 values"):
        SteeringVector("short", np.ones(3, np.float32), 0, "").check_for(smollm.identity.base, again.hidden_size)
    with pytest.raises(ValueError, match="not a usable vector name"):
        load_vector("../escape", tmp_path)
    with pytest.raises(ValueError, match="No saved steering vector"):
        load_vector("missing", tmp_path)


def test_bad_input_is_refused_with_a_clear_message(smollm, greedy_trace):
    with pytest.raises(ValueError, match="prompts are empty"):
        contrast_vector(smollm, "x", ["  "], NEGATIVE, layer=1)
    with pytest.raises(ValueError, match="not a layer of this model"):
        contrast_vector(smollm, "x", POSITIVE, NEGATIVE, layer=99)
    with pytest.raises(ValueError, match="start must be"):
        Steering(token_vector(smollm, "y", " yes", 1), 1.0, start="later")
    with pytest.raises(ValueError, match="single token"):
        token_vector(smollm, "y", " supercalifragilistic", 1)


def test_the_first_departure_is_the_first_moment_that_differs(greedy_trace):
    from tracing.experiments.branch_tree import first_departure

    changed = copy.deepcopy(greedy_trace)
    assert first_departure(greedy_trace, changed) is None
    changed.moments[4].token_id += 1
    assert first_departure(greedy_trace, changed) == 4
    assert first_departure(greedy_trace, replace(greedy_trace, moments=greedy_trace.moments[:3])) == 3


def test_an_adapter_is_steered_through_its_base_models_layers(smollm, tmp_path, monkeypatch):
    """A vector made on the adapter is the adapter's own (not the base's: its attention differs), made for the
    base id, and a steering hook on the adapter equals the bias reference in a copy of the adapter's model."""
    from model_zoo import load_model
    from tests.tiny_adapter import make_tiny_adapter, temp_home

    home = temp_home(tmp_path)
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(home))
    adapter = load_model(make_tiny_adapter(home), device="cpu")
    made = contrast_vector(adapter, "joy", POSITIVE, NEGATIVE, layer=4)
    assert made.model_id == smollm.identity.base
    assert not np.allclose(made.vector, contrast_vector(smollm, "joy", POSITIVE, NEGATIVE, layer=4).vector)
    trace = trace_generation(adapter, PROMPT, SETTINGS)
    twin = biased_copy(adapter, 4, 6.0 * torch.as_tensor(made.vector))
    ids = torch.tensor([trace.all_ids])
    with torch.inference_mode():
        expected = twin(input_ids=ids, use_cache=False).logits[0].float()
        with steered(adapter, steering(made, 6.0, "prompt"), first=0, start=0):
            actual = adapter.forward(ids).logits[0].float()
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
    branch = continue_steered(adapter, trace, 1, steering(made, 6.0))
    assert branch.adapter == adapter.identity.adapter
