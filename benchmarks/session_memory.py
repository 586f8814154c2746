"""How much memory a class costs the server: ``--sessions`` browser sessions, each holding a ``--tokens``-token trace
of the offline model, with and without the per-session memory budget (page_glue/trace_store.py).

One ``--tokens``-token greedy trace is made with the engine and saved as a lesson in a fresh data folder; then,
side by side in one run, the real server (`make run`, through benchmarks/served_app.py) is started on that data
folder under three settings, and ``--sessions`` Chromium contexts each open the lesson's link (``/?trace=<id>``),
so every session loads its own copy of the trace and stays connected. The server's resident memory (VmRSS from
/proc) is read once the last session shows the trace:

- ``rss_mb_no_budget``: ``MOMENTSCOPE_SESSION_MB=0`` and ``MOMENTSCOPE_IDLE_MINUTES=0`` (every trace in memory,
  as before the store);
- ``rss_mb_default_idle``: the default budget (64 MB, more than one such trace, so an active session keeps its
  trace in memory as without a budget) once every session was idle past a short idle time (``--idle-minutes``)
  and the store had spilled all its traces to disk;
- ``rss_mb_small_budget``: a budget below one trace (``--small-mb``), every session active: no trace stays in
  memory between script runs.

``rss_mb_server_alone`` is the server after one session on the empty Trace page (no trace), ``trace_mb`` the
attention and other arrays of one trace.

    python benchmarks/session_memory.py --json

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `make run` sets it

from benchmarks.served_app import launch_chromium, served_app, wait_for_app_idle  # noqa: E402

PROMPT = "请写一个关于灯塔看守人的短故事。"
MODEL = "smollm2-135m-instruct"
OPEN_MS = 120_000
MB = 1024 * 1024


def make_lesson(home: Path, tokens: int) -> tuple[str, float]:
    """Traces ``tokens`` tokens with the engine, saves them as a lesson under ``home``; (lesson id, trace MB)."""
    from model_zoo import load_model
    from tracing.core.decode import trace_generation
    from tracing.core.trace import DecodingSettings
    from tracing.lessons.gallery import Gallery
    from tracing.lessons.lesson import Lesson, Note

    loaded = load_model(MODEL)
    trace = trace_generation(loaded, PROMPT, DecodingSettings(max_new_tokens=tokens, stop_at_eos=False))
    lesson = Lesson("一节课的内存", trace, {0: Note(0, "第一步")})
    return Gallery(home / "gallery").save(lesson), trace.array_nbytes / MB


def server_pid(url: str) -> int:
    """The streamlit process serving ``url`` (the child of `make run`), found by its port in /proc."""
    port = url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"streamlit") for arg in args[:2]) and port.encode() in args:
            return int(entry.name)
    raise RuntimeError(f"no streamlit process serves {url}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def spilled_files(home: Path) -> int:
    return sum(1 for _ in (home / "spill").rglob("*.trace.safetensors"))


def measure(browser, home: Path, lesson_id: str, sessions: int, env: dict[str, str], wait_idle_s: float | None) -> dict:
    """Starts the server with ``env``, opens ``sessions`` sessions on the lesson, reads the RSS (and, with
    ``wait_idle_s``, again once the store has spilled every session's trace)."""
    log = home / f"server-{len(list(home.glob('server-*.log')))}.log"
    with served_app(log, env={"MOMENTSCOPE_HOME": str(home)} | env) as url:
        pid = server_pid(url)
        contexts = []
        first = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(first)
        page = first.new_page()
        page.goto(url)
        wait_for_app_idle(page, OPEN_MS)
        page.get_by_text("Run", exact=True).wait_for(timeout=OPEN_MS)
        time.sleep(2)
        result = {"rss_alone": rss_mb(pid)}
        started = time.perf_counter()
        for _ in range(sessions):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            contexts.append(context)
            page = context.new_page()
            page.goto(f"{url}/?trace={lesson_id}")
            page.get_by_text("Moment 0 of").wait_for(timeout=OPEN_MS)
            wait_for_app_idle(page, OPEN_MS)
        result["open_seconds"] = time.perf_counter() - started
        time.sleep(3)  # the last script runs end and free what they held
        result["rss_active"] = rss_mb(pid)  # with a short idle time, the first sessions may be spilled already
        if wait_idle_s is not None:
            deadline = time.monotonic() + wait_idle_s
            while spilled_files(home) < sessions and time.monotonic() < deadline:
                time.sleep(2)
            result["spilled"] = spilled_files(home)
            time.sleep(3)
            result["rss_idle"] = rss_mb(pid)
        for context in contexts:
            context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--small-mb", type=float, default=8.0, help="the budget below one trace")
    parser.add_argument("--idle-minutes", type=float, default=1.0, help="the idle time of the default-budget run")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="momentscope-memory-") as folder:
        home = Path(folder)
        lesson_id, trace_mb = make_lesson(home, args.tokens)
        runs = {}
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                off = {"MOMENTSCOPE_SESSION_MB": "0", "MOMENTSCOPE_IDLE_MINUTES": "0"}
                runs["none"] = measure(browser, home, lesson_id, args.sessions, off, None)
                idle = {"MOMENTSCOPE_IDLE_MINUTES": str(args.idle_minutes)}
                runs["default"] = measure(browser, home, lesson_id, args.sessions, idle, args.idle_minutes * 60 + 120)
                small = {"MOMENTSCOPE_SESSION_MB": str(args.small_mb), "MOMENTSCOPE_IDLE_MINUTES": "0"}
                runs["small"] = measure(browser, home, lesson_id, args.sessions, small, None)
            finally:
                browser.close()

    result = {
        "sessions": args.sessions,
        "tokens": args.tokens,
        "trace_mb": round(trace_mb, 1),
        "traces_mb": round(trace_mb * args.sessions, 1),
        "rss_mb_server_alone": round(runs["none"]["rss_alone"], 1),
        "rss_mb_no_budget": round(runs["none"]["rss_active"], 1),
        "rss_mb_default_idle": round(runs["default"]["rss_idle"], 1),
        "default_idle_spilled": runs["default"]["spilled"],
        "rss_mb_small_budget": round(runs["small"]["rss_active"], 1),
        "small_budget_mb": args.small_mb,
        "open_seconds": {name: round(run["open_seconds"], 1) for name, run in runs.items()},
        "load_average": os.getloadavg()[0],
    }
    if not args.json:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
