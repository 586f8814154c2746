"""Export: the merged model is a plain transformers folder that computes what base + adapter computes, loaded
in a process where peft cannot even be imported; the adapter zip holds the adapter's files, byte for byte."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from finetune.export import adapter_zip, merge_and_save
from tests.tiny_adapter import make_tiny_adapter, temp_home

pytestmark = pytest.mark.slow
IDS = [[1, 504, 3458, 314, 216, 1789, 28, 4453, 314, 2, 10, 42]]
PLAIN_LOAD = """
import sys
sys.modules["peft"] = None  # any import of peft fails
import numpy, torch
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
assert not any("lora" in name for name, _ in model.named_parameters())
with torch.no_grad():
    numpy.save(sys.argv[2], model(torch.tensor({ids})).logits.numpy())
"""


@pytest.fixture
def adapter_id(tmp_path, monkeypatch) -> str:
    home = temp_home(tmp_path)
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(home))
    return make_tiny_adapter(home)


def test_merged_model_loads_without_peft_and_equals_base_plus_adapter(adapter_id, tmp_path):
    from model_zoo import load_model

    folder = merge_and_save(adapter_id)
    assert (folder / "model.safetensors").exists() and not (folder / "adapter_config.json").exists()
    out = tmp_path / "logits.npy"
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD.format(ids=IDS), str(folder), str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    merged = np.load(out)
    ids = torch.tensor(IDS)
    with torch.no_grad():
        tuned = load_model(adapter_id, device="cpu").model(ids).logits.numpy()
        base = load_model("smollm2-135m-instruct", device="cpu").model(ids).logits.numpy()
    assert np.abs(merged - tuned).max() < 1e-3  # float32 rounding of W + BA
    assert np.abs(base - tuned).max() > 0.1  # the adapter changes the model, so the check above means something


def test_adapter_zip_holds_every_file_of_the_folder(adapter_id):
    from model_zoo.catalog import resolve

    folder = Path(resolve(adapter_id).path)
    with zipfile.ZipFile(io.BytesIO(adapter_zip(folder))) as archive:
        names = sorted(archive.namelist())
        expected = sorted(f"{folder.name}/{p.relative_to(folder)}" for p in folder.rglob("*") if p.is_file())
        assert names == expected and "tiny-test-lora/adapter_model.safetensors" in names
        assert archive.read("tiny-test-lora/adapter_config.json") == (folder / "adapter_config.json").read_bytes()
