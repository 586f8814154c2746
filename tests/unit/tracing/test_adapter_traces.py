"""A trace made by a base model with an adapter works in every analysis (attribution, logit lens, attention
squares, branch), each computed with the adapter; a model that did not make the trace is refused by the
same identity check everywhere."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from model_zoo import ModelIdentity
from tests.conftest import OFFLINE_CHAT_MODEL
from tests.tiny_adapter import TINY_ADAPTER, make_tiny_adapter, temp_home
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.experiments.branch import branch
from tracing.inspection.attention import prefix_attention
from tracing.inspection.attribution import attribute_moment, attribute_position
from tracing.inspection.logit_lens import logit_lens

pytestmark = pytest.mark.slow
MOMENT = 2


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    from model_zoo import load_model

    with pytest.MonkeyPatch.context() as patch:
        home = temp_home(tmp_path_factory.mktemp("adapter-traces"))
        patch.setenv("MOMENTSCOPE_HOME", str(home))
        yield load_model(make_tiny_adapter(home), device="cpu")


@pytest.fixture(scope="module")
def adapter_trace(adapter):
    return trace_generation(adapter, "What is 2 + 3?", DecodingSettings(max_new_tokens=5, stop_at_eos=False))


def test_the_trace_and_the_model_name_the_same_base_and_adapter(adapter, adapter_trace):
    assert adapter_trace.identity == adapter.identity == ModelIdentity(OFFLINE_CHAT_MODEL, TINY_ADAPTER)
    assert adapter.identity.name == TINY_ADAPTER and adapter.base_model is adapter.model.get_base_model()


def test_an_adapter_moment_is_attributed_with_the_adapter(smollm, adapter, adapter_trace):
    moment = adapter_trace.moments[MOMENT]
    result = attribute_moment(adapter, adapter_trace, MOMENT, method="input_x_gradient")
    assert result.target_id == moment.token_id and np.isfinite(result.scores).all()
    assert result.target_score == pytest.approx(math.log(moment.prob), abs=1e-3)  # the adapter's own log p
    position = adapter_trace.prompt_len + MOMENT
    base = attribute_position(smollm, adapter_trace.all_ids, position, method="input_x_gradient")
    assert abs(base.target_score - result.target_score) > 1e-3  # the base would explain another number


def test_the_logit_lens_of_an_adapter_trace_ends_at_the_moment(adapter, adapter_trace):
    lens = logit_lens(adapter, adapter_trace, MOMENT)
    assert lens.chosen_probs[-1] == pytest.approx(adapter_trace.moments[MOMENT].prob, abs=1e-4)


def test_attention_squares_of_an_adapter_trace_end_with_the_stored_row(adapter, adapter_trace):
    squares = prefix_attention(adapter, adapter_trace, MOMENT)
    np.testing.assert_allclose(squares[:, :, -1, :], adapter_trace.moments[MOMENT].attention, atol=2e-3)


def test_an_adapter_trace_branches_with_the_adapter(adapter, adapter_trace):
    child = branch(adapter, adapter_trace, 1, adapter_trace.moments[1].top_ids[1])
    assert child.identity == adapter_trace.identity
    assert child.moments[0] == adapter_trace.moments[0] and child.moments[1].rank == 2


@pytest.mark.parametrize(
    "analysis",
    [
        lambda loaded, trace: attribute_moment(loaded, trace, MOMENT, method="saliency"),
        lambda loaded, trace: logit_lens(loaded, trace, MOMENT),
        lambda loaded, trace: prefix_attention(loaded, trace, MOMENT),
        lambda loaded, trace: branch(loaded, trace, 1, 5),
    ],
    ids=["attribution", "logit lens", "attention squares", "branch"],
)
def test_the_base_alone_refuses_an_adapter_trace(smollm, adapter_trace, analysis):
    message = f"made by {re.escape(repr(TINY_ADAPTER))}; .* not {re.escape(repr(OFFLINE_CHAT_MODEL))}"
    with pytest.raises(ValueError, match=message):
        analysis(smollm, adapter_trace)
