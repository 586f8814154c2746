"""Every benchmark script runs: once at tiny sizes (``--smoke``, seconds each), so `make bench` cannot break
unnoticed. The two browser benchmarks start the served app and a browser and measure for minutes; for them the
suite checks that the script starts (``--help``) and that every name it imports from our packages, inside its
functions too, is there; the e2e tests drive the same server."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.stem for p in (REPO / "benchmarks").glob("*.py") if 'if __name__ == "__main__"' in p.read_text())
BROWSER = ("app_latency", "session_memory")  # make run + Chromium, minutes of measuring


def run(script: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{script}.py"), *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_script_is_smoked_or_a_browser_benchmark():
    assert set(BROWSER) <= set(SCRIPTS) and len(SCRIPTS) > len(BROWSER) + 5


@pytest.mark.slow
@pytest.mark.parametrize("script", [s for s in SCRIPTS if s not in BROWSER])
def test_a_benchmark_runs_in_smoke_mode(script):
    done = run(script, "--smoke", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert isinstance(json.loads(done.stdout.strip().splitlines()[-1]), dict)


def our_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from <our package> import name`` in a script, wherever it stands."""
    ours = ("benchmarks", "tracing", "model_zoo", "finetune", "jobs", "datafiles", "page_glue", "components")
    return [
        (node.module, alias.name)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ours
        for alias in node.names
    ]


@pytest.mark.parametrize("script", BROWSER)
def test_a_browser_benchmark_loads(script):
    done = run(script, "--help")
    assert done.returncode == 0, done.stderr[-3000:]
    wanted = our_imports(REPO / "benchmarks" / f"{script}.py")
    check = "import importlib\n" + "".join(f"getattr(importlib.import_module({m!r}), {n!r})\n" for m, n in wanted)
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
