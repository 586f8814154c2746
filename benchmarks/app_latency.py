"""How fast the app is where the user stands: the real server (`make run`) in a real Chromium, against the engine.

Side by side in one run, on the offline default model with a Chinese prompt, warm model on both sides:

- ``trace_ratio``: click on Run -> an explorable ``--tokens``-token greedy trace (the moment heading, every
  chart drawn, nothing stale), divided by `trace_generation` of the same prompt and settings in a separate
  process. Goal <= 1.2.
- ``moment_switch_seconds``: median wall time from a click on a token of a ``--switch-tokens``-token trace to
  all three panels redrawn for that moment (``--clicks`` clicks). Goal <= 0.5 s.
- ``attribution_ratio``: click on "Attribute moment M" (Input x Gradient) -> the drawn result, divided by the
  engine's `attribute_moment` of the same moment alone (medians over ``--moments``). Goal <= 1.3.
- ``users4_ratio``: ``--users`` browser sessions, each warmed by a run of its own (a tab's first chart loads
  and compiles plotly.js: seconds of CPU that a real user's own machine spends, not the server's), click Run
  on a ``--user-tokens``-token trace at the same moment; their mean time to an explorable trace divided by
  one session's alone, each the median of ``--user-rounds`` rounds that interleave one alone run and one
  together run. Goal <= 2.0 (batched decoding, `model_zoo.step_scheduler`). The sessions share one prompt, as a
  class on one exercise does: after the first run the server keeps that prompt's cache, so each run reads
  only its last token (`model_zoo.step_scheduler`'s kept prefixes).
- ``users4_distinct_ratio``: the same with a prompt never run before in every run, alone and together
  (numbered, so only the chat template's system part is shared): what a class whose users all type their
  own prompts gets.

The engine is timed in a subprocess before the browser runs and again after (the median of both counts), so
background load hits both sides alike.

    python benchmarks/app_latency.py --json
    python benchmarks/app_latency.py --json --users-only   # the two users figures alone (about 2 min)

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `make run` sets it

from benchmarks.served_app import launch_chromium, served_app, wait_for_app_idle  # noqa: E402

PROMPT = "请写一个关于灯塔看守人的短故事。"  # greedy, the offline model writes well past 128 tokens
MODEL = "smollm2-135m-instruct"
ATTRIBUTION_METHOD = "input_x_gradient"
IDLE_MS = 60_000

# Everything drawn and current: the heading of the moment (and a text the step must show, if any), every chart,
# no element left stale from the previous script run, no run in progress. A run's wait first sees the
# generation start ("Generating with"), so the trace shown before the click never counts.
#
# The page watches itself: a MutationObserver checks once per animation frame in which the page changed and
# keeps the time it first settled, and the harness reads that time afterwards. Polling from outside would time
# the harness: Playwright's locator waits poll at growing intervals (up to 500 ms), a check on every animation
# frame cost a tab 0.15 CPU-s per second and 4 tabs polled every 20 ms 0.24 CPU-s per second, on the same two
# cores as the server, CPU that no user's browser spends.
WATCH = """([afterRun, heading, text]) => {
  const has = (selector, wanted) => [...document.querySelectorAll(selector)].some((e) => e.textContent.includes(wanted));
  const generating = () => has('[data-testid="stMarkdownContainer"]', 'Generating with');
  const settled = () => has('h4', heading)
    && (!text || has('[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"], button', text))
    && document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3
    && !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stStatusWidget"]');
  window.msSettledAt = null;
  let waitingForRun = afterRun, scheduled = false;
  const check = () => {
    scheduled = false;
    if (waitingForRun && !generating()) return;
    waitingForRun = false;
    if (settled()) {
      window.msSettledAt = performance.timeOrigin + performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(() => {
    if (!scheduled) { scheduled = true; requestAnimationFrame(check); }
  });
  observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
}"""


def watch(page, heading: str, text: str = "", after_run: bool = False) -> None:
    """Starts the page's own watch for the state `WATCH` describes (call it before the click)."""
    page.evaluate(WATCH, [after_run, heading, text])


def settled_at(page, timeout: float) -> float:
    """The wall time (time.time()) at which the watched page settled; waits for it up to ``timeout`` s."""
    page.wait_for_function("() => window.msSettledAt !== null", timeout=timeout * 1000, polling=100)
    return page.evaluate("window.msSettledAt") / 1000


# ---- the engine alone ------------------------------------------------------------------------------------


def engine_timings(tokens: int, moments: list[int], repeats: int) -> dict:
    """Runs in its own process: warm model, then the trace and the attribution the browser will ask for."""
    import torch

    from model_zoo import load_model
    from model_zoo.device import use_threads_beside_a_server
    from tracing import DecodingSettings, trace_generation
    from tracing.inspection.attribution import attribute_moment

    loaded = load_model(MODEL)
    trace_generation(loaded, PROMPT, DecodingSettings(max_new_tokens=4))  # warm-up, as the browser's first run
    settings = DecodingSettings(max_new_tokens=tokens)
    started = time.perf_counter()
    trace_generation(loaded, PROMPT, settings)
    default_threads = (torch.get_num_threads(), time.perf_counter() - started)  # for the record: torch's default
    threads = use_threads_beside_a_server()  # the same count the served app runs with
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        trace = trace_generation(loaded, PROMPT, settings)
        seconds.append(time.perf_counter() - started)
    attribute_moment(loaded, trace, 0, method=ATTRIBUTION_METHOD)  # warm-up, as in the browser
    attributions = []
    for moment in moments:
        started = time.perf_counter()
        attribute_moment(loaded, trace, moment, method=ATTRIBUTION_METHOD)
        attributions.append(time.perf_counter() - started)
    return {
        "trace_seconds": seconds,
        "attribution_seconds": attributions,
        "tokens": len(trace.moments),
        "torch_threads": threads,
        "default_threads": default_threads,
    }


def engine_in_subprocess(tokens: int, moments: list[int], repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--engine", "--tokens", str(tokens), "--moments", ",".join(map(str, moments))]
        + ["--repeats", str(repeats)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the engine run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- the browser -----------------------------------------------------------------------------------------


def open_trace_page(context, url: str, tokens: int):
    page = context.new_page()
    page.goto(url)
    wait_for_app_idle(page, IDLE_MS)
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.get_by_label("Max new tokens").fill(str(tokens))
    page.get_by_label("Max new tokens").press("Enter")
    wait_for_app_idle(page, IDLE_MS)
    return page


def set_prompt(page, prompt: str) -> None:
    box = page.get_by_label("Prompt", exact=True)
    box.fill(prompt)
    box.press("Control+Enter")
    wait_for_app_idle(page, IDLE_MS)


def click(locator) -> float:
    """Clicks once the target is on the page and returns when the click was given (time.time(), the clock the
    page's `settled_at` is read against).

    The click event is dispatched directly: Playwright's own ``click()`` first scrolls and waits for the
    element to hold still over two animation frames, harness time that no user's click has."""
    locator.wait_for()
    started = time.time()
    locator.dispatch_event("click")
    return started


def run_button(page):
    return page.get_by_role("button", name="Run", exact=True)


def timed_run(page, timeout: float) -> float:
    """Click on Run -> explorable trace, in seconds."""
    button = run_button(page)
    button.wait_for()
    watch(page, "Moment 0 of ", after_run=True)
    started = click(button)
    return settled_at(page, timeout) - started


def decode_seconds(page) -> float:
    """The decode's own time inside the server, as the page's caption gives it ("… · 6.1 s · …")."""
    caption = page.get_by_text("stopped by").first.inner_text()
    return float(next(part for part in caption.split(" · ") if part.endswith(" s"))[:-2])


def moment_count(page) -> int:
    heading = page.locator("h4", has_text="Moment 0 of").first.inner_text()
    return int(heading.split(" of ")[1].split(":")[0]) + 1


def timed_switch(page, index: int, timeout: float = 30) -> float:
    target = page.locator(f".ms-tok[data-i='{index}']")
    target.wait_for()
    watch(page, f"Moment {index} of ", f"Attribute moment {index}")
    started = click(target)
    return settled_at(page, timeout) - started


def timed_attribution(page, index: int, timeout: float = 120) -> float:
    button = page.get_by_role("button", name=f"Attribute moment {index}")
    button.wait_for()
    watch(page, f"Moment {index} of ", "computed in")
    started = click(button)
    return settled_at(page, timeout) - started


def concurrent_runs(pages: list, timeout: float) -> list[float]:
    """Clicks Run on every page, then reads when each showed its trace; seconds per page."""
    for page in pages:
        run_button(page).wait_for()
        watch(page, "Moment 0 of ", after_run=True)
    starts = [click(run_button(page)) for page in pages]
    deadline = time.time() + timeout
    return [settled_at(page, max(deadline - time.time(), 1)) - start for page, start in zip(pages, starts, strict=True)]


@contextlib.contextmanager
def served_in_chromium():
    """(Chromium, the app's URL): the app served as `make run` serves it, closed on leaving."""
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory() as folder,
        served_app(Path(folder) / "server.log") as url,
        sync_playwright() as pw,
    ):
        browser = launch_chromium(pw)
        yield browser, url
        browser.close()


def browser_timings(args) -> dict:
    with served_in_chromium() as (browser, url):
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = open_trace_page(context, url, 4)
        timed_run(page, 120)  # warm-up: the server's first forward passes and charts
        timed_switch(page, 1)
        timed_attribution(page, 1)

        page.get_by_label("Max new tokens").fill(str(args.tokens))
        page.get_by_label("Max new tokens").press("Enter")
        wait_for_app_idle(page, IDLE_MS)
        timed_run(page, 120)  # warm-up at full length, as the engine's run at torch's default thread count
        runs, decodes = [], []
        for _ in range(args.repeats):
            runs.append(timed_run(page, 120))
            decodes.append(decode_seconds(page))
        tokens = moment_count(page)
        attributions = []
        for moment in args.moments:
            timed_switch(page, moment)
            attributions.append(timed_attribution(page, moment))

        page.get_by_label("Max new tokens").fill(str(args.switch_tokens))
        page.get_by_label("Max new tokens").press("Enter")
        wait_for_app_idle(page, IDLE_MS)
        timed_run(page, 240)
        switch_tokens = moment_count(page)
        targets = [(7 + i * 37) % switch_tokens for i in range(args.clicks)]
        switches = [timed_switch(page, index) for index in targets]
        context.close()
        users = users_timings(browser, url, args)
    return users | {
        "trace_seconds": runs,
        "decode_seconds": decodes,
        "tokens": tokens,
        "attribution_seconds": attributions,
        "switch_seconds": switches,
        "switch_tokens": switch_tokens,
    }


def users_timings(browser, url: str, args) -> dict:
    """``--users`` sessions: alone and together runs, interleaved, on one prompt and then on new ones."""
    contexts = [browser.new_context(viewport={"width": 1500, "height": 1000}) for _ in range(args.users)]
    pages = [open_trace_page(c, url, args.user_tokens) for c in contexts]
    for page in pages:  # each tab's first run loads and compiles plotly.js, seconds of CPU on this machine
        timed_run(page, 120)
    alone, together = [], []
    for round_ in range(args.user_rounds):  # interleaved, so a slow spell of the machine hits both sides
        alone.append(timed_run(pages[round_ % len(pages)], 120))
        together.append(statistics.mean(concurrent_runs(pages, 240)))
    numbers = itertools.count(1)
    distinct_alone, distinct_together, lengths = [], [], set()
    for round_ in range(args.user_rounds):
        page = pages[round_ % len(pages)]
        set_prompt(page, f"第{next(numbers)}题：{PROMPT}")
        distinct_alone.append(timed_run(page, 120))
        lengths.add(moment_count(page))
        for tab in pages:
            set_prompt(tab, f"第{next(numbers)}题：{PROMPT}")
        distinct_together.append(statistics.mean(concurrent_runs(pages, 240)))
        lengths.update(moment_count(tab) for tab in pages)
    for context in contexts:
        context.close()
    return {
        "alone_seconds": alone,
        "together_seconds": together,
        "distinct_alone_seconds": distinct_alone,
        "distinct_together_seconds": distinct_together,
        "distinct_lengths": sorted(lengths),
    }


def users_result(app: dict) -> dict:
    ratio = statistics.median(app["together_seconds"]) / statistics.median(app["alone_seconds"])
    distinct = statistics.median(app["distinct_together_seconds"]) / statistics.median(app["distinct_alone_seconds"])
    return {
        "users4_ratio": round(ratio, 3),
        "users4_distinct_ratio": round(distinct, 3),
        "user_alone_seconds": [round(s, 3) for s in app["alone_seconds"]],
        "users_together_seconds": [round(s, 3) for s in app["together_seconds"]],
        "distinct_alone_seconds": [round(s, 3) for s in app["distinct_alone_seconds"]],
        "distinct_together_seconds": [round(s, 3) for s in app["distinct_together_seconds"]],
        "distinct_trace_lengths": app["distinct_lengths"],  # every run's moments: one value, or unlike work
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--switch-tokens", type=int, default=128)
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument(
        "--moments",
        type=lambda text: [int(m) for m in text.split(",")],
        default=[40, 30, 50],
        help="moments attributed",
    )
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--user-tokens", type=int, default=32)
    parser.add_argument(
        "--user-rounds",
        type=int,
        default=5,
        help="alone and together runs, interleaved (5: the medians of 3 moved by 0.2)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed traces on each side")
    parser.add_argument("--users-only", action="store_true", help="only the users figures")
    parser.add_argument("--engine", action="store_true", help=argparse.SUPPRESS)  # the subprocess side
    args = parser.parse_args()

    if args.engine:
        print(json.dumps(engine_timings(args.tokens, args.moments, args.repeats)))
        return
    if args.users_only:
        with served_in_chromium() as (browser, url):
            users = users_timings(browser, url, args)
        report(args, users_result(users) | {"users": args.users, "prompt": PROMPT})
        return
    before = engine_in_subprocess(args.tokens, args.moments, args.repeats)
    app = browser_timings(args)
    after = engine_in_subprocess(args.tokens, args.moments, args.repeats)
    if not before["tokens"] == after["tokens"] == app["tokens"]:
        raise RuntimeError(f"the two sides traced different lengths: {before['tokens']}, {app['tokens']}")
    engine_trace = statistics.median(before["trace_seconds"] + after["trace_seconds"])
    engine_attribution = statistics.median(before["attribution_seconds"] + after["attribution_seconds"])
    app_attribution = statistics.median(app["attribution_seconds"])
    app_trace = statistics.median(app["trace_seconds"])
    result = {
        "trace_ratio": round(app_trace / engine_trace, 3),
        "moment_switch_seconds": round(statistics.median(app["switch_seconds"]), 3),
        "attribution_ratio": round(app_attribution / engine_attribution, 3),
        "goals": {"trace_ratio": 1.2, "moment_switch_seconds": 0.5, "attribution_ratio": 1.3, "users4_ratio": 2.0},
        "app_trace_seconds": [round(s, 3) for s in app["trace_seconds"]],
        "engine_trace_seconds": [round(s, 3) for s in before["trace_seconds"] + after["trace_seconds"]],
        "torch_threads": before["torch_threads"],  # both sides; the app sets it as it loads a model
        "engine_seconds_at_torch_default": {
            "threads": before["default_threads"][0],
            "seconds": [round(before["default_threads"][1], 3), round(after["default_threads"][1], 3)],
        },
        # The decode thread's own time inside the server: what is left of app_trace_seconds is the page.
        "app_decode_seconds": app["decode_seconds"],
        "tokens": app["tokens"],
        "moment_switch_all_seconds": [round(s, 3) for s in app["switch_seconds"]],
        "switch_trace_tokens": app["switch_tokens"],
        "app_attribution_seconds": [round(s, 3) for s in app["attribution_seconds"]],
        "engine_attribution_seconds": [
            round(s, 3) for s in before["attribution_seconds"] + after["attribution_seconds"]
        ],
        "attributed_moments": args.moments,
        "users": args.users,
        **users_result(app),
        "prompt": PROMPT,
    }
    report(args, result)


def report(args, result: dict) -> None:
    result |= {"model": MODEL, "server": "make run (.streamlit/config.toml), Debian Chromium via Playwright"}
    if not args.json:
        print("\n".join(f"{key}: {value}" for key, value in result.items()))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
