"""The layout the seam gives: the offline chat model's heads (GQA: 9 query heads on 3 key/value heads), its
modules, and no layout for a family the registry does not describe (the reason names what is unknown)."""

from __future__ import annotations

import pytest

from model_zoo.families import has_known_layout, missing_layout_reason


def test_the_offline_chat_models_layout(smollm):
    layout = smollm.layout
    assert (layout.num_layers, layout.num_heads, layout.num_kv_heads, layout.head_dim) == (30, 9, 3, 64)
    projection = layout.output_projection(smollm.base_model, 4)
    assert projection is smollm.base_model.model.layers[4].self_attn.o_proj
    assert projection.in_features == layout.num_heads * layout.head_dim
    assert layout.head_slice(2) == slice(128, 192)
    assert layout.final_norm(smollm.base_model) is smollm.base_model.model.norm
    assert smollm.architecture == "llama" and has_known_layout("llama")


def test_an_encoder_has_none_and_the_reason_names_its_family(minilm):
    assert minilm.layout is None and not has_known_layout(minilm.architecture)
    assert "'bert' has no family description" in missing_layout_reason("bert")
    assert minilm.layout_problem == missing_layout_reason("bert")


@pytest.mark.parametrize(("check", "value"), [("check_layer", 30), ("check_head", -1), ("check_head", True)])
def test_out_of_range_layers_and_heads_are_named(smollm, check, value):
    with pytest.raises(ValueError, match="is not a"):
        getattr(smollm.layout, check)(value)
