"""``python -m tracing``: the subcommands work end to end, and bad input exits 2 with a clear message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import CJK_ANSWER, REPO
from tests.unit.tracing.conftest import run_cli
from tests.unit.tracing.core.test_trace import make_trace
from tracing import cli, load_trace
from tracing.cli import options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "", "--max-new-tokens", "4"], "prompt is empty"),
        (["--prompt", "hi", "--max-new-tokens", "0"], "max_new_tokens must be a whole number from 1 to 4096, got 0"),
        (["--prompt", "hi", "--max-new-tokens", "5000"], "from 1 to 4096, got 5000"),
        (["--prompt", "hi", "--top-p", "1.5"], "top_p"),
        (["--prompt", "hi", "--temperature", "-1"], "temperature"),
    ],
)
def test_bad_settings_exit_2_before_loading_a_model(capsys, monkeypatch, tmp_path, args, message):
    monkeypatch.setattr(options, "load_model", lambda *a: pytest.fail("no model should be loaded for bad settings"))
    code, _, err = run_cli(capsys, "run", "--model", "smollm2-135m-instruct", *args, "--out", str(tmp_path / "t"))
    assert code == 2
    assert message in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("words", "max_new", "message"),
    [(9000, 4, "tokens long (chat template included), but smollm2-135m-instruct reads at most 8192 tokens"),
     (8100, 200, "more than smollm2-135m-instruct's context of 8192 tokens")],
)  # fmt: skip
def test_prompt_longer_than_the_context_exits_2(capsys, offline_model, tmp_path, words, max_new, message):
    code, _, err = run_cli(
        capsys, "run", "--model", "m", "--prompt", "word " * words, "--max-new-tokens", str(max_new),
        "--out", str(tmp_path / "t"),
    )  # fmt: skip
    assert code == 2 and message in err


def test_unknown_model_exits_2_with_the_zoo_message(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--model", "nobody/no-such-model", "--prompt", "hi", "--out", str(tmp_path))
    assert code == 2
    assert "'nobody/no-such-model'" in err and "Traceback" not in err


def test_missing_or_foreign_file_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "show", str(tmp_path / "missing.safetensors"))
    assert code == 2 and "No such trace file" in err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    code, _, err = run_cli(capsys, "export-html", str(junk), "--out", str(tmp_path / "p.html"))
    assert code == 2 and "not a trace file" in err


def test_missing_arguments_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--prompt", "hi"])
    assert exit_info.value.code == 2
    assert "--model" in capsys.readouterr().err


def test_show_prints_a_table_of_moments(capsys, tmp_path):
    trace = make_trace()
    path = trace.save(tmp_path / "t.safetensors")
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("model   m + adapter m-lora")
    header = next(i for i, line in enumerate(lines) if "entropy" in line)
    assert "top-3" in lines[header]
    assert len(lines) - header - 1 == len(trace.moments)
    assert "' tok4↵'" in lines[-1]


def test_a_new_subcommand_is_one_registry_entry(capsys, monkeypatch):
    def add_arguments(parser):
        parser.add_argument("--name", default="world")

    def run(args):
        print(f"hello {args.name}")
        return 0

    monkeypatch.setitem(cli.SUBCOMMANDS, "hello", cli.Subcommand("say hello", add_arguments, run))
    assert run_cli(capsys, "hello", "--name", "tracing")[:2] == (0, "hello tracing\n")


@pytest.mark.slow
def test_run_show_and_export_end_to_end(capsys, offline_model, tmp_path):
    out = tmp_path / "trace.safetensors"
    code, printed, _ = run_cli(
        capsys, "run", "--model", "m", "--prompt", "Name a fruit.", "--max-new-tokens", "5",
        "--temperature", "0.8", "--top-p", "0.9", "--seed", "1", "--out", str(out),
    )  # fmt: skip
    assert code == 0 and "wrote" in printed
    trace = load_trace(out)
    assert trace.settings.do_sample and trace.settings.seed == 1 and trace.settings.top_p == 0.9
    assert len(trace.moments) <= 5
    code, printed, _ = run_cli(capsys, "show", str(out))
    assert code == 0 and "sampling (temperature 0.8" in printed
    code, printed, _ = run_cli(capsys, "export-html", str(out), "--out", str(tmp_path / "page.html"))
    assert code == 0 and (tmp_path / "page.html").stat().st_size > 1000


@pytest.mark.slow  # two fresh interpreters that import torch
def test_module_entry_point_runs_without_traceback(tmp_path):
    path = make_trace().save(tmp_path / "t.safetensors")
    shown = subprocess.run(
        [sys.executable, "-m", "tracing", "show", str(path)], cwd=REPO, capture_output=True, text=True
    )
    assert shown.returncode == 0 and "tok0" in shown.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "tracing", "run", "--model", "x", "--prompt", " ", "--out", str(tmp_path / "o")],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "prompt is empty" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_show_prints_chinese_japanese_and_emoji_as_characters(capsys, cjk_trace, tmp_path):
    path = cjk_trace.save(tmp_path / "cjk.safetensors")
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0
    assert f"text    {CJK_ANSWER!r}" in out and "小明有三个苹果" in out
    table = out.split("top-3", 1)[1]
    assert "\\x" not in out and "�" not in out
    rows = table.strip().splitlines()
    assert len(rows) == len(cjk_trace.moments)
    # Every character of the answer shows in the token column; split ones marked as parts ("🍎¹⁄₂"). Only an
    # alternative that starts a character it never finished may show as bytes ("‹e5 b0›").
    token_column = "".join(row.split("'")[1] for row in rows)
    assert "‹" not in token_column and set(CJK_ANSWER) <= set(token_column)
    assert "¹⁄₂" in token_column and "³⁄₃" in token_column
