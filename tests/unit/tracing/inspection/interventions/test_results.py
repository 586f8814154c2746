"""Intervention results and specs: saved to JSON and loaded back equal; bad specs named."""

from __future__ import annotations

import numpy as np
import pytest

from tracing.inspection.interventions.results import Commitment, Contributions, Patching, from_json, to_json
from tracing.inspection.interventions.specs import Ablation, Knockout, intervention_from_dict


def test_results_round_trip_through_json_with_their_arrays():
    contributions = Contributions(
        3, 17, "小", None, None, 0.5, np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(2, np.float32),
        np.ones(2, np.float32), 0.0, 17.5, 0.1,
    )  # fmt: skip
    back = from_json(to_json(contributions))
    assert isinstance(back, Contributions) and back.target_token == "小"
    assert back.heads.dtype == np.float32 and np.array_equal(back.heads, contributions.heads)
    assert back.total == pytest.approx(contributions.total) == pytest.approx(17.5)
    commitment = Commitment(
        ["embeddings", "layer 1"], np.array([5]), np.array([[3, 1]]), np.array([[0.1, 0.9]], np.float32), np.array([1])
    )
    assert np.array_equal(from_json(to_json(commitment)).ranks, commitment.ranks)
    with pytest.raises(ValueError, match="not an intervention result"):
        from_json('{"kind": "Trace", "result": {}}')


def test_restored_is_the_share_of_the_difference_and_nan_without_one():
    def patching(clean, corrupted):
        return Patching(0, 1, "a", None, np.array([0]), np.array([4, 5]), np.array([4]), [], [], clean, corrupted,
                        np.array([[-2.0, -1.5]], np.float32))  # fmt: skip

    assert patching(-1.0, -3.0).restored.tolist() == [[0.5, 0.75]]
    assert np.isnan(patching(-1.0, -1.0).restored).all()


def test_specs_round_trip_and_label_themselves():
    for spec in (Ablation("head", 3, 4, "mean", "all"), Knockout((5, 1, 5), (2,)), Knockout((0,))):
        assert intervention_from_dict(spec.to_dict()) == spec
    assert Knockout((5, 1, 5)).keys == (1, 5)
    assert Ablation("head", 3, 4).label == "head 3.4 zero-ablated at the moment's position"
    with pytest.raises(ValueError, match="unknown intervention kind"):
        intervention_from_dict({"kind": "steer"})
