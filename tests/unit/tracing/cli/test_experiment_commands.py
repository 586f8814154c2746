"""``python -m tracing compare | branch | consistency``: they work end to end, and bad input exits 2."""

from __future__ import annotations

import pytest

from tests.unit.tracing.conftest import run_cli
from tests.unit.tracing.core.test_trace import make_trace
from tracing import cli, load_trace
from tracing.cli import options
from tracing.experiments.comparison import load_comparison


@pytest.fixture
def no_model(monkeypatch):
    monkeypatch.setattr(options, "load_model", lambda *a: pytest.fail("no model should be loaded for bad input"))


def test_the_subcommands_are_registered():
    assert {"compare", "branch", "consistency"} <= set(cli.SUBCOMMANDS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--model-a", "m", "--model-b", "m", "--prompt", " "], "prompt is empty"),
        (["compare", "--model-a", "m", "--model-b", "m", "--prompt", "hi", "--max-new-tokens", "0"], "max_new_tokens"),
        (["compare", "--model-a", "m", "--model-b", "m", "--prompt", "hi", "--top-p", "2"], "top_p"),
        (["consistency", "--model", "m", "--prompt", "hi", "-n", "1"], "-n must be from 2 to 64"),
        (["consistency", "--model", "m", "--prompt", "hi", "--pattern", "(unclosed"], "not a valid regular expression"),
        (["consistency", "--model", "m", "--prompt", ""], "prompt is empty"),
        (["consistency", "--model", "m", "--prompt", "hi", "--temperature", "0"], "temperature"),
    ],
)
def test_bad_input_exits_2_before_loading_a_model(capsys, no_model, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--moment", "9", "--token-id", "5"], "--moment 9 is not in this trace: it has moments 0 to 4"),
        (["--moment", "-1", "--token-id", "5"], "is not in this trace"),
        (["--moment", "1", "--token", ""], "--token is empty"),
        (["--moment", "1", "--token-id", "5", "--max-new-tokens", "0"], "max_new_tokens"),
    ],
)
def test_bad_branch_requests_exit_2(capsys, no_model, tmp_path, extra, message):
    trace_file = make_trace().save(tmp_path / "t.safetensors")
    code, _, err = run_cli(capsys, "branch", str(trace_file), *extra, "--out", str(tmp_path / "b"))
    assert code == 2 and message in err


def test_branch_of_a_missing_file_or_a_non_trace_exits_2(capsys, no_model, tmp_path):
    code, _, err = run_cli(capsys, "branch", str(tmp_path / "none"), "--moment", "0", "--token-id", "1", "--out", "x")
    assert code == 2 and "No such trace file" in err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a trace")
    code, _, err = run_cli(capsys, "branch", str(junk), "--moment", "0", "--token-id", "1", "--out", "x")
    assert code == 2 and "not a trace file" in err


def test_branch_needs_exactly_one_token_option(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["branch", "t", "--moment", "0", "--token", "a", "--token-id", "1", "--out", "x"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_an_unknown_model_exits_2(capsys):
    code, _, err = run_cli(capsys, "compare", "--model-a", "nobody/no-such", "--model-b", "x", "--prompt", "hi")
    assert code == 2 and "nobody/no-such" in err


@pytest.mark.slow
def test_compare_then_branch_end_to_end(capsys, offline_model, tmp_path):
    out = tmp_path / "c.zip"
    argv = ["compare", "--model-a", "m", "--model-b", "m", "--prompt", "Name three colours.", "--max-new-tokens", "4"]
    code, printed, err = run_cli(capsys, *argv, "--ignore-eos", "--out", str(out))
    assert code == 0, err
    assert "KL(a||b)" in printed and "greedy choices agree at every moment" in printed
    comparison = load_comparison(out)
    assert len(comparison.moments) == 4 and max(comparison.kl_a_b) < 1e-9

    trace_file = comparison.trace_a.save(tmp_path / "a.safetensors")
    token = int(comparison.trace_a.moments[1].top_ids[1])
    code, printed, err = run_cli(
        capsys, "branch", str(trace_file), "--moment", "1", "--token-id", str(token), "--out", str(tmp_path / "b")
    )
    assert code == 0, err
    branched = load_trace(tmp_path / "b")
    assert branched.generated_ids[:2] == [comparison.trace_a.generated_ids[0], token]
    assert "at moment 1 forced" in printed and len(branched.moments) == 4
