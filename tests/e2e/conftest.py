"""A real app server and a real Chromium for end-to-end tests.

The server is started exactly as a user starts it, `make run` (with a free port and the test data folder),
through `benchmarks/served_app.py`, which the browser benchmark uses too. Every request the page makes is
recorded so tests can assert that nothing leaves 127.0.0.1.

Deadlines are sized to the work, a few times what it takes on a 2-core machine, so that a tenfold slowdown
of the app fails a test instead of passing slowly. Each test's docstring gives its measured times.
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest

from benchmarks.served_app import ServerFailed, launch_chromium, served_app
from benchmarks.served_app import wait_for_app_idle as _wait_for_app_idle

# A script run of a page with no model work in it takes well under a second; a first page load a few.
IDLE_MS = 20_000
DEFAULT_MS = 20_000


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, smollm):
    """Base URL of a running app; the server's log is in the failure message if it fails to start.

    Depends on ``smollm`` so the one-time GGUF conversion is done before the server's first page load."""
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    try:
        with served_app(log_path) as url:
            yield url
    except ServerFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            instance = launch_chromium(pw)
        except FileNotFoundError as exc:
            pytest.fail(str(exc))
        yield instance
        instance.close()


# What a page shows when it failed: a traceback box, or an error box the test did not say it expects.
PROBLEMS = "[data-testid='stException'], [data-testid='stAlertContentError']"
DIALOGS = "[role='dialog']"
DIALOG_PROBLEMS = r"Page not found|[Ee]rror"


class PageShowsAProblem(AssertionError):
    """The page showed an exception or an unexpected error."""


def assert_no_problem(page) -> None:
    """Fails when the page shows an exception box, or an error box that none of ``page.expected_errors``
    (regular expressions a test sets) matches. Run after every step by `wait_for_app_idle`, and when a page
    closes, so no page passes while it shows a traceback."""
    expected = getattr(page, "expected_errors", [])
    shown = [
        (box.get_attribute("data-testid"), box.inner_text()) for box in page.locator(PROBLEMS).all() if box.is_visible()
    ]
    unexpected = [
        f"{kind}: {text[:1500]}"
        for kind, text in shown
        if kind == "stException" or not any(re.search(pattern, text) for pattern in expected)
    ]
    unexpected += [  # Streamlit's own error dialogs ("Page not found", a connection or script error)
        f"dialog: {text[:500]}" for text in page.locator(DIALOGS).all_inner_texts() if re.search(DIALOG_PROBLEMS, text)
    ]
    if unexpected:
        raise PageShowsAProblem(f"{page.url} shows:\n" + "\n---\n".join(unexpected))


def new_page(browser):
    """A fresh page (own context, so its own app session) whose every request URL is kept in
    ``page.requested_urls``; ``page.expected_errors`` lists the error boxes (regular expressions) a test expects."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    tab = context.new_page()
    tab.requested_urls = []
    tab.expected_errors = []
    tab.on("request", lambda request: tab.requested_urls.append(request.url))
    tab.set_default_timeout(DEFAULT_MS)
    return tab


@pytest.fixture
def page(browser):
    """A fresh page, checked for an exception or an unexpected error when the test ends."""
    tab = new_page(browser)
    try:
        yield tab
        assert_no_problem(tab)
    finally:
        tab.context.close()


def wait_for_app_idle(page, timeout_ms: int = IDLE_MS) -> None:
    """Waits until Streamlit has finished running the script (no running indicator), then fails if the page
    shows an exception or an unexpected error."""
    _wait_for_app_idle(page, timeout_ms)
    assert_no_problem(page)


@contextlib.contextmanager
def timed(what: str):
    """Prints how long a step took (shown with ``pytest -s``): the figures behind each test's deadlines."""
    started = time.perf_counter()
    yield
    print(f"[e2e] {what}: {time.perf_counter() - started:.2f} s")


def run_trace(page, prompt: str, tokens: int, deadline_s: float, what: str) -> None:
    """On the Trace page already open: types the prompt and the token count, clicks Run and waits (at most
    ``deadline_s``) for the explorable trace, printing the time as ``what``."""
    page.get_by_role("textbox", name="Prompt").fill(prompt)
    page.get_by_label("Max new tokens").fill(str(tokens))
    page.get_by_label("Max new tokens").press("Enter")
    wait_for_app_idle(page)
    with timed(what):
        page.get_by_role("button", name="Run").click()
        page.get_by_text(f"Moment 0 of {tokens - 1}").wait_for(timeout=deadline_s * 1000)
        wait_for_app_idle(page)
