"""A model bigger than its memory: a tiny decoder dispatched by accelerate with part of it offloaded to a folder
on disk (a device map splitting it between the CPU and the disk, and ``device_map="auto"`` with a
``max_memory`` too small for it) traces, attributes and intervenes exactly as the same model loaded whole
(hooks on dispatched modules included)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.inspection.attribution import AttributionSettings, attribute_position
from tracing.inspection.interventions import Ablation, Knockout, contributions, intervene
from tracing.inspection.logit_lens import logit_lens

SETTINGS = DecodingSettings(max_new_tokens=4, use_chat_template=False, stop_at_eos=False)
MOMENT = 2


@pytest.fixture(scope="module")
def whole_and_offloaded(smollm, tmp_path_factory):
    from transformers import AutoConfig, AutoModelForCausalLM

    from model_zoo import load_model

    tmp_path = tmp_path_factory.mktemp("placement")
    torch.manual_seed(0)
    config = AutoConfig.for_model("llama", vocab_size=len(smollm.tokenizer), hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
    folder = tmp_path / "tiny-llama"
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    smollm.tokenizer.save_pretrained(folder)
    offload = str(tmp_path / "offload")
    split = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk", "model.layers.2": "disk",
             "model.layers.3": "cpu", "model.norm": "disk", "model.rotary_emb": "cpu", "lm_head": "disk"}  # fmt: skip
    placements = {
        "split": {"device_map": split, "offload_folder": offload + "-split"},
        "auto": {"device_map": "auto", "max_memory": {"cpu": "14MB"}, "offload_folder": offload + "-auto"},
    }
    whole = load_model(str(folder), device="cpu")
    return whole, {name: load_model(str(folder), device="cpu", placement=p) for name, p in placements.items()}


def test_the_model_is_offloaded_to_disk(whole_and_offloaded):
    _, offloaded = whole_and_offloaded
    assert set(offloaded["split"].model.hf_device_map.values()) == {"cpu", "disk"}
    assert set(offloaded["auto"].model.hf_device_map.values()) == {"disk"}  # 14 MB hold no part of it


@pytest.mark.parametrize("placement", ["split", "auto"])
def test_the_offloaded_model_traces_attributes_and_intervenes_as_the_whole_one(whole_and_offloaded, placement):
    whole, offloaded = whole_and_offloaded[0], whole_and_offloaded[1][placement]
    trace = trace_generation(whole, "The cat sat on the mat", SETTINGS)
    again = trace_generation(offloaded, "The cat sat on the mat", SETTINGS)
    assert again.all_ids == trace.all_ids
    np.testing.assert_allclose([m.prob for m in again.moments], [m.prob for m in trace.moments], rtol=1e-5)
    np.testing.assert_allclose(again.moments[MOMENT].attention, trace.moments[MOMENT].attention, atol=1e-3)
    parts = [contributions(model, trace, MOMENT) for model in (whole, offloaded)]
    np.testing.assert_allclose(parts[1].heads, parts[0].heads, atol=1e-5)
    assert parts[1].logit == pytest.approx(parts[0].logit, abs=1e-5) and abs(parts[1].gap) < 1e-4
    for intervention in (Ablation("head", 2, 1, "zero", "all"), Ablation("mlp", 1), Knockout((1, 2))):
        results = [intervene(model, trace, MOMENT, intervention) for model in (whole, offloaded)]
        assert results[1].log_prob == pytest.approx(results[0].log_prob, abs=1e-5)
    lenses = [logit_lens(model, trace, MOMENT) for model in (whole, offloaded)]
    np.testing.assert_allclose(lenses[1].chosen_probs, lenses[0].chosen_probs, atol=1e-6)
    ids, position = trace.all_ids, trace.prompt_len + MOMENT
    settings = AttributionSettings(n_steps=4)
    scores = [
        attribute_position(m, ids, position, method="integrated_gradients", settings=settings)
        for m in (whole, offloaded)
    ]
    np.testing.assert_allclose(scores[1].scores, scores[0].scores, atol=1e-5)
