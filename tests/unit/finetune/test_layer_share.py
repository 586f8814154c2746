"""Adapting only the top share of the layers: the adapter has modules in those layers alone (below the lowest
adapted layer nothing needs a gradient, which is what makes each step cheaper: benchmarks/quick_preset.py)."""

from __future__ import annotations

import re

import pytest
from safetensors import safe_open

from finetune.config import ALL_LINEAR, TrainConfig
from finetune.train import train
from tests.unit.finetune.test_train_job import tiny_config, workdir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


def adapted_layer_indices(adapter_path: str) -> set[int]:
    with safe_open(f"{adapter_path}/adapter_model.safetensors", "pt") as saved:
        return {int(re.search(r"\.layers\.(\d+)\.", key)[1]) for key in saved.keys()}  # noqa: SIM118 (safe_open is not iterable)


def test_the_top_share_of_layers_alone_gets_adapters(workdir):  # noqa: F811
    common = dict(max_steps=2, probe_count=0, eval_every=100, sample_count=0)
    top = train(tiny_config(workdir, layer_share=2 / 3, target_modules=ALL_LINEAR, name="top", **common))
    every = train(tiny_config(workdir, name="every", **common))
    assert adapted_layer_indices(top["adapter_path"]) == set(range(10, 30))  # SmolLM2-135M has 30 layers
    assert adapted_layer_indices(every["adapter_path"]) == set(range(30))
    assert top["tuned"]["loss"] != pytest.approx(top["base"]["loss"], rel=1e-5)  # it trained


def test_layer_share_is_checked():
    assert "layer_share must be in (0, 1]" in TrainConfig(train_file="x.jsonl", layer_share=0).problems()
    assert TrainConfig(train_file="x.jsonl", layer_share=0.5).problems() == []
