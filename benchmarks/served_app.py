"""The app as a user meets it: served by `make run` and opened in Debian's Chromium.

The e2e tests and `benchmarks/app_latency.py` both start the server through this module, so they measure
exactly what `make run` serves: the same command, the same `.streamlit/config.toml`, no extra flags (the
port is the one thing picked, through make's PORT). The browser is Debian's Chromium driven by Playwright,
never Playwright's own downloaded browser.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MOMENTSCOPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class ServerFailed(RuntimeError):
    """The server exited or did not answer; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_app(log_path: Path, env: dict[str, str] | None = None, start_seconds: float = 90) -> Iterator[str]:
    """Runs `make run PORT=<free port>` in its own process group; yields the base URL once it is healthy."""
    port = free_port()
    environment = os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {})
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make's child (streamlit) is stopped with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            if proc.poll() is not None:
                raise ServerFailed(f"`make run` exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"the app did not answer within {start_seconds:.0f} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def launch_chromium(playwright):
    """Debian's Chromium, headless, with nothing that reaches outside this machine."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"No Chromium at {CHROMIUM}: run `make browser` or set MOMENTSCOPE_CHROMIUM.")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_for_app_idle(page, timeout_ms: int) -> None:
    """Waits until Streamlit has finished running the script (no running indicator)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)
