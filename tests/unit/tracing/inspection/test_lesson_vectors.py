"""A lesson carries steering vectors: `lesson save --vector NAME` keeps a copy with the lesson, `lesson show` lists
it, opening the lesson adopts it among the saved vectors (equal values); a vector of another model and an
unknown name are refused, the latter before anything is saved."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.tracing.conftest import run_cli
from tests.unit.tracing.core.test_trace import make_trace
from tracing.inspection.steering.lesson_vectors import adopt_carried, carried_vectors, carry_vector
from tracing.inspection.steering.vector import SteeringVector, load_vector, save_vector, saved_names
from tracing.lessons.gallery import class_gallery


@pytest.fixture
def trace(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path / "home"))
    return make_trace()


def test_a_lesson_carries_a_vector_and_opening_it_adopts_it(capsys, trace, tmp_path):
    made = SteeringVector("kindness", np.arange(8, dtype=np.float32), 3, trace.identity.base, {"kind": "token"})
    save_vector(made)
    path = trace.save(tmp_path / "t.safetensors")
    code, out, err = run_cli(capsys, "lesson", "save", str(path), "--title", "Steering", "--vector", "kindness")
    assert code == 0, err
    [summary] = class_gallery().summaries()
    [carried] = carried_vectors(class_gallery(), summary.id)
    assert np.array_equal(carried.vector, made.vector) and carried.describe() == made.describe()
    code, out, _ = run_cli(capsys, "lesson", "show", summary.id)
    assert code == 0 and "vector  kindness at layer 3, norm 11.832" in out

    elsewhere = tmp_path / "class"
    assert adopt_carried(class_gallery(), summary.id, elsewhere) == ["kindness"]
    assert saved_names(elsewhere) == ["kindness"]
    assert np.array_equal(load_vector("kindness", elsewhere).vector, made.vector)
    with pytest.raises(ValueError, match="the lesson's trace is"):
        carry_vector(class_gallery(), summary.id, SteeringVector("x", made.vector, 3, "another-model"))


def test_an_unknown_vector_name_saves_no_lesson(capsys, trace, tmp_path):
    path = trace.save(tmp_path / "t.safetensors")
    code, _, err = run_cli(capsys, "lesson", "save", str(path), "--title", "Steering", "--vector", "missing")
    assert code == 2 and "No saved steering vector 'missing'" in err
    assert class_gallery().summaries() == []
