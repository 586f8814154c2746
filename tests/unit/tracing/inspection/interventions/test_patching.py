"""Activation patching: patching the clean residual stream at every layer and every position restores the
clean logits exactly; each cell of the sweep equals one plain forward with that one site patched."""

from __future__ import annotations

import pytest
import torch

from tests.unit.tracing.inspection.interventions.conftest import MOMENT, PROMPT, last_log_probs, prefix_of
from tracing.inspection.interventions import corrupted_prefix, patch_moment
from tracing.inspection.interventions.patching import layer_inputs, patched_log_probs

pytestmark = pytest.mark.slow
CORRUPTED = PROMPT.replace("剩", "差")  # same token count (27), two tokens differ, late: a short sweep


def test_patching_every_layer_at_every_position_restores_the_clean_logits(model_and_trace):
    loaded, trace = model_and_trace
    clean = prefix_of(trace)
    corrupted = corrupted_prefix(loaded, trace, MOMENT, CORRUPTED)
    inputs, clean_log_probs = layer_inputs(loaded, clean)
    sites = [(layer, position) for layer in range(inputs.shape[0]) for position in range(len(clean))]
    restored = patched_log_probs(loaded, corrupted, inputs, sites)
    torch.testing.assert_close(restored, clean_log_probs, rtol=0, atol=1e-6)
    # a plain forward computes the logits of every position: other shapes, float32 rounding apart
    torch.testing.assert_close(clean_log_probs, last_log_probs(loaded.model, clean), rtol=0, atol=1e-4)
    assert float((last_log_probs(loaded.model, corrupted) - clean_log_probs).abs().max()) > 1e-2
    changed = [p for p, (a, b) in enumerate(zip(clean, corrupted, strict=True)) if a != b]
    embeddings = patched_log_probs(loaded, corrupted, inputs, [(0, p) for p in changed])
    torch.testing.assert_close(embeddings, clean_log_probs, rtol=0, atol=1e-5)  # the edit is its embeddings


def test_each_cell_is_that_one_site_patched(model_and_trace):
    loaded, trace = model_and_trace
    result = patch_moment(loaded, trace, MOMENT, CORRUPTED)
    clean = prefix_of(trace)
    corrupted = corrupted_prefix(loaded, trace, MOMENT, CORRUPTED)
    inputs, _ = layer_inputs(loaded, clean)
    assert list(result.changed) and result.positions[0] == result.changed[0]
    assert result.positions[-1] == len(clean) - 1 and result.metric.shape == (inputs.shape[0], len(result.positions))
    for layer, column in [(0, 0), (7, 1), (len(result.layers) - 1, len(result.positions) - 1)]:
        site = (int(result.layers[layer]), int(result.positions[column]))
        expected = patched_log_probs(loaded, corrupted, inputs, [site])[result.target_id]
        assert result.metric[layer, column] == pytest.approx(float(expected), abs=1e-5)
    target = result.target_id
    assert result.clean_metric == pytest.approx(float(last_log_probs(loaded.model, clean)[target]), abs=1e-4)
    assert result.corrupted_metric == pytest.approx(float(last_log_probs(loaded.model, corrupted)[target]), abs=1e-4)
    if len(result.changed) == 1:  # the edited token's embedding is the whole edit: patching it restores all
        assert result.restored[0, 0] == pytest.approx(1.0, abs=1e-4)


def test_chosen_layers_and_positions_are_computed_alone(smollm, short_trace):
    full = patch_moment(smollm, short_trace, MOMENT, CORRUPTED)
    last = int(full.positions[-1])
    some = patch_moment(smollm, short_trace, MOMENT, CORRUPTED, layers=[3, 20], positions=[int(full.changed[0]), last])
    assert list(some.layers) == [3, 20] and list(some.positions) == [int(full.changed[0]), last]
    columns = [0, len(full.positions) - 1]
    # 2e-5: two positions run as 2 rows, which CPU float32 models compute in another order (model_zoo.few_rows)
    assert some.metric == pytest.approx(full.metric[[3, 20]][:, columns], abs=2e-5)


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (PROMPT + "再说一遍。", "tokens .* and the original"),
        (PROMPT, "the same tokens as the original"),
        ("", "The prompt is empty"),
    ],
)
def test_bad_corrupted_prompts_are_named(smollm, short_trace, prompt, message):
    with pytest.raises(ValueError, match=message):
        patch_moment(smollm, short_trace, MOMENT, prompt)


def test_bad_layers_and_positions_are_named(smollm, short_trace):
    with pytest.raises(ValueError, match="layer 40 is not a layer"):
        patch_moment(smollm, short_trace, MOMENT, CORRUPTED, layers=[40])
    with pytest.raises(ValueError, match="position 500 is not in the moment's prefix"):
        patch_moment(smollm, short_trace, MOMENT, CORRUPTED, positions=[500])
    with pytest.raises(ValueError, match="from the first edited one"):
        patch_moment(smollm, short_trace, MOMENT, CORRUPTED, positions=[0])
