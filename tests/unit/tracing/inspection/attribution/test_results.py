"""Settings, results and their storage, the registry and target validation: no model needed."""

from __future__ import annotations

import numpy as np
import pytest

from tracing.inspection.attribution import (
    Attribution,
    AttributionMatrix,
    AttributionMethod,
    AttributionSettings,
    get_method,
    method_names,
    register,
)
from tracing.inspection.attribution import registry as registry_module
from tracing.inspection.attribution.scoring import plan_groups
from tracing.inspection.attribution.targets import make_targets


class _Tokenizer:
    unk_token_id = None
    pad_token_id = 7
    eos_token_id = 2


def test_settings_are_a_cache_key_that_ignores_the_memory_bound():
    a = AttributionSettings(n_steps=16, skip_token_ids=[1], max_batch_tokens=64)
    b = AttributionSettings(n_steps=16, skip_token_ids=(1,), max_batch_tokens=4096)
    assert a == b and hash(a) == hash(b)
    assert AttributionSettings(n_steps=16) != AttributionSettings(n_steps=17)
    with pytest.raises(AttributeError):
        a.n_steps = 3  # frozen
    assert AttributionSettings.from_dict(a.to_dict()) == a


@pytest.mark.parametrize("bad", [{"n_steps": 1}, {"max_batch_tokens": 0}, {"baseline_id": -3}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        AttributionSettings(**bad)


def _matrix() -> AttributionMatrix:
    scores = np.array([[0.5, -1.0, np.nan], [0.25, 2.0, 3.0]], dtype=np.float32)
    return AttributionMatrix(
        method="integrated_gradients",
        target_positions=np.array([2, 3]),
        target_ids=np.array([11, 12]),
        contrast_ids=np.array([-1, 40]),
        scores=scores,
        positions="prefix",
        prompt_length=2,
        target_scores=np.array([-0.1, -2.0], dtype=np.float32),
        deltas=np.array([0.01, -0.02], dtype=np.float32),
        seconds=1.5,
        settings=AttributionSettings(n_steps=8, baseline_id=0),
    )


def test_matrix_round_trips_and_rows_cover_their_prefix():
    matrix = _matrix()
    back = AttributionMatrix.from_dict(matrix.to_dict())
    np.testing.assert_array_equal(back.scores, matrix.scores)  # NaN where a position is not an input
    np.testing.assert_array_equal(back.contrast_ids, matrix.contrast_ids)
    assert back.settings == matrix.settings and back.positions == "prefix"
    first, second = matrix.row(0), matrix.row(1)
    assert first.scores.tolist() == [0.5, -1.0] and first.contrast_id is None and first.moment_index == 0
    assert second.scores.shape == (3,) and second.contrast_id == 40 and second.delta == pytest.approx(-0.02)


def test_attribution_round_trips_through_plain_lists():
    one = _matrix().row(1)
    data = one.to_dict()
    data["scores"] = data["scores"].tolist()  # e.g. after JSON
    back = Attribution.from_dict(data)
    assert back.scores.dtype == np.float32
    np.testing.assert_array_equal(back.scores, one.scores)
    assert (back.method, back.target_position, back.target_id, back.settings) == (
        one.method,
        one.target_position,
        one.target_id,
        one.settings,
    )


def test_groups_cover_every_target_once_and_split_far_apart_lengths():
    positions = np.array([40, 41, 42, 900, 901])
    groups = plan_groups(positions)
    assert sorted(np.concatenate(groups).tolist()) == list(range(5))
    assert len(groups) == 2  # short targets are not dragged through 900 positions
    assert len(plan_groups(np.array([30, 31, 32]))) == 1  # near lengths share one forward pass


def test_registry_lists_the_methods_and_adding_one_is_a_decorator():
    assert {"integrated_gradients", "input_x_gradient", "saliency", "feature_ablation", "attention_rollout"} <= set(
        method_names()
    )
    with pytest.raises(ValueError, match="Unknown attribution method"):
        get_method("shapley")

    @register
    class Constant(AttributionMethod):
        name = "constant_for_test"
        label = "Constant"
        description = "test only"

        def run(self, model, targets):
            raise NotImplementedError

    try:
        assert isinstance(get_method("constant_for_test"), Constant)
    finally:
        del registry_module._METHODS["constant_for_test"]


def test_targets_validate_the_request_and_resolve_the_baseline():
    settings = AttributionSettings()
    targets = make_targets(_Tokenizer(), [5, 6, 7, 8], [2, 3], settings=settings, prompt_length=2)
    assert targets.settings.baseline_id == 7  # no unk: the pad token
    assert targets.baseline_ids(3).tolist() == [7, 7, 7]
    with pytest.raises(ValueError, match="positions"):
        make_targets(_Tokenizer(), [5, 6, 7], [3], settings=settings, prompt_length=1)
    with pytest.raises(ValueError, match="must differ"):
        make_targets(_Tokenizer(), [5, 6, 7], [2], settings=settings, prompt_length=1, contrast_ids=[7])
    with pytest.raises(ValueError, match="prompt length"):
        make_targets(_Tokenizer(), [5, 6, 7], [2], settings=AttributionSettings(prompt_only=True), prompt_length=None)
    prompt_only = make_targets(
        _Tokenizer(),
        [1, 6, 7, 8],
        [3],
        settings=AttributionSettings(prompt_only=True, skip_token_ids=(1,)),
        prompt_length=2,
    )
    assert prompt_only.attributed(4).tolist() == [False, True, False, False]
