"""Short traces of the offline chat model and of the tiny adapter, and independent references: a deep copy of
a model with weights edited, a plain forward pass."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.tiny_adapter import make_tiny_adapter, temp_home
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings

PROMPT = "小明有三个苹果，吃了一个，还剩几个？"  # no chat template: 17 tokens, so every pass is short
SETTINGS = DecodingSettings(max_new_tokens=6, use_chat_template=False, stop_at_eos=False)
MOMENT = 3


@pytest.fixture(scope="session")
def short_trace(smollm):
    return trace_generation(smollm, PROMPT, SETTINGS)


@pytest.fixture(scope="session")
def adapter(tmp_path_factory):
    from model_zoo import load_model

    with pytest.MonkeyPatch.context() as patch:
        home = temp_home(tmp_path_factory.mktemp("intervention-adapter"))
        patch.setenv("MOMENTSCOPE_HOME", str(home))
        yield load_model(make_tiny_adapter(home), device="cpu")


@pytest.fixture(scope="session")
def adapter_trace(adapter):
    return trace_generation(adapter, PROMPT, SETTINGS)


@pytest.fixture(params=["base", "adapter"])
def model_and_trace(request, smollm, short_trace):
    """The same test on the base model and on the adapter (with its own trace)."""
    if request.param == "base":
        return smollm, short_trace
    return request.getfixturevalue("adapter"), request.getfixturevalue("adapter_trace")


def edited_copy(loaded, edit) -> torch.nn.Module:
    """A deep copy of the loaded model (a peft model stays one) after ``edit(base_model_copy)``."""
    from model_zoo.seam import base_module

    model = copy.deepcopy(loaded.model)
    with torch.no_grad():
        edit(base_module(model))
    return model


def last_log_probs(model, ids, **kwargs) -> torch.Tensor:
    """The next-token log-probabilities after ``ids`` from one plain forward pass of ``model``."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([list(ids)]), use_cache=False, **kwargs)
    return out.logits[0, -1].float().log_softmax(-1)


def prefix_of(trace, moment: int = MOMENT) -> list[int]:
    return trace.all_ids[: trace.prompt_len + moment]
