"""``python -m tracing steer``: a vector made from prompt lists continues a saved trace; --json reports the
vector's norm (the engine's own), the steered trace file (which loads back as that continuation) and a sweep;
bad input is one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from tests.unit.tracing.conftest import run_cli
from tracing import load_trace
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.experiments.branch_tree import INTERVENTION_KEY, first_departure
from tracing.inspection.steering.make import contrast_vector

pytestmark = pytest.mark.slow
POSITIVE, NEGATIVE = "I love it, wonderful!", "I hate it, awful!"


@pytest.fixture(scope="module")
def trace_file(smollm, tmp_path_factory):
    trace = trace_generation(smollm, "My day was", DecodingSettings(max_new_tokens=6, use_chat_template=False))
    return trace.save(tmp_path_factory.mktemp("steer") / "t.safetensors")


def test_steer_prints_the_vectors_norm_and_writes_the_steered_trace(capsys, offline_model, smollm, trace_file):
    argv = ["steer", str(trace_file), "--moment", "1", "--positive", POSITIVE, "--negative", NEGATIVE]
    code, out, err = run_cli(capsys, *argv, "--layer", "10", "--strength", "16", "--sweep=-16,16", "--json")
    assert code == 0, err
    report = json.loads(out)
    expected = contrast_vector(smollm, "steering", [POSITIVE], [NEGATIVE], 10)
    assert report["vector"]["norm"] == pytest.approx(expected.norm, rel=1e-6)
    steered, original = load_trace(report["trace_file"]), load_trace(trace_file)
    assert steered.info[INTERVENTION_KEY]["spec"]["strength"] == 16.0
    assert steered.text == report["steered_text"] and len(steered.moments) == len(original.moments)
    assert report["first_departure"] == first_departure(original, steered)
    assert [row["strength"] for row in report["sweep"]] == [-16.0, 0.0, 16.0]
    assert report["sweep"][1]["first_departure"] is None  # strength 0 is the unsteered path


def test_bad_input_is_one_line_and_exit_code_2(capsys, offline_model, trace_file):
    code, _, err = run_cli(capsys, "steer", str(trace_file), "--strength", "2")
    assert code == 2 and "Give one vector source" in err
    code, _, err = run_cli(capsys, "steer", str(trace_file), "--token", " yes")
    assert code == 2 and "--layer is needed" in err
    code, _, err = run_cli(capsys, "steer", str(trace_file), "--vector", "no-such-vector")
    assert code == 2 and "No saved steering vector" in err
