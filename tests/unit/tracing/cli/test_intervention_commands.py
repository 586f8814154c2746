"""``python -m tracing contributions | ablate | patch`` on a saved trace: tables that agree with the engine,
JSON results that load back, a branch file under --continue, and one-line errors with exit code 2."""

from __future__ import annotations

import pytest

from tests.unit.tracing.conftest import run_cli
from tests.unit.tracing.inspection.interventions.conftest import MOMENT, PROMPT, SETTINGS
from tracing import load_trace
from tracing.cli import options
from tracing.experiments.branch_tree import INTERVENTION_KEY
from tracing.inspection.interventions import Ablation, contributions, from_json, intervene

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_trace(smollm):
    from tracing.core.decode import trace_generation

    return trace_generation(smollm, PROMPT, SETTINGS)


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory, short_trace):
    return str(short_trace.save(tmp_path_factory.mktemp("cli") / "t.safetensors"))


@pytest.fixture
def no_model(monkeypatch):
    monkeypatch.setattr(options, "load_model", lambda *a: pytest.fail("no model should be loaded for bad input"))


def test_contributions_print_the_sum_and_write_the_result(
    capsys, offline_model, smollm, short_trace, trace_file, tmp_path
):
    out_json = tmp_path / "c.json"
    code, out, err = run_cli(capsys, "contributions", trace_file, "--moment", str(MOMENT), "--json", str(out_json))
    assert code == 0, err
    expected = contributions(smollm, short_trace, MOMENT)
    assert f"model {expected.logit:+.4f}" in out and f"sum of parts {expected.total:+.4f}" in out
    name, value = expected.ranked(1)[0]
    assert f"{name:<14} {value:>+12.4f}" in out
    assert from_json(out_json.read_text()).heads == pytest.approx(expected.heads)


def test_ablate_prints_the_change_and_continues_into_a_branch(
    capsys, offline_model, smollm, short_trace, trace_file, tmp_path
):
    branch_file = tmp_path / "b.safetensors"
    code, out, err = run_cli(
        capsys,
        "ablate",
        trace_file,
        "--moment",
        str(MOMENT),
        "--head",
        "4.2",
        "--continue",
        "2",
        "--out",
        str(branch_file),
    )
    assert code == 0, err
    expected = intervene(smollm, short_trace, MOMENT, Ablation("head", 4, 2))
    assert f"-> {expected.log_prob:+.4f} (change {expected.delta:+.4f})" in out and "head 4.2 zero-ablated" in out
    child = load_trace(branch_file)
    assert len(child.moments) == MOMENT + 2 and child.info[INTERVENTION_KEY]["label"] == expected.label


def test_patch_lists_the_most_restoring_sites(capsys, offline_model, trace_file):
    corrupted = PROMPT.replace("剩", "差")
    code, out, err = run_cli(capsys, "patch", trace_file, "--moment", str(MOMENT), "--corrupt", corrupted,
                             "--positions", "20,29", "--top", "3")  # fmt: skip
    assert code == 0, err
    assert "edited positions 20" in out and "restored" in out
    assert len([line for line in out.splitlines() if line.endswith("%")]) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ablate", "T", "--moment", "1", "--mlp", "2", "--layers", "1"], "--layers goes with --knockout"),
        (["ablate", "T", "--moment", "1", "--knockout", "1", "--mean"], "for ablations, not for --knockout"),
        (["ablate", "T", "--moment", "1", "--mlp", "2", "--continue", "3"], "go together"),
        (["contributions", "missing.safetensors", "--moment", "0"], "No such trace file"),
    ],
)
def test_bad_input_exits_2_before_loading_a_model(capsys, no_model, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) <= 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ablate", "T", "--moment", "1", "--head", "3"], "expected LAYER.HEAD such as 3.4"),
        (["ablate", "T", "--moment", "1", "--knockout", "a,b"], "expected comma-separated numbers"),
    ],
)
def test_malformed_options_exit_2_from_argparse(capsys, no_model, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, *argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ablate", "{file}", "--moment", "99", "--mlp", "1"], "--moment 99 is not in this trace"),
        (["ablate", "{file}", "--moment", "1", "--head", "3.9"], "head 9 is not a head"),
        (["patch", "{file}", "--moment", "1", "--corrupt", PROMPT], "the same tokens as the original"),
        (["contributions", "{file}", "--moment", "1", "--contrast", "小明有"], "type a single token"),
    ],
)
def test_bad_requests_on_a_real_trace_exit_2(capsys, offline_model, trace_file, argv, message):
    code, _, err = run_cli(capsys, *[a.format(file=trace_file) for a in argv])
    assert code == 2 and message in err and "Traceback" not in err
