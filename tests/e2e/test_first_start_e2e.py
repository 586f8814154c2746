"""A fresh install serving a class from its first minute: `make run` on an empty data home, two browser sessions.

Session A clicks Run first, so the offline model is converted and loaded (progress shown); session B opens while
that load runs and clicks Run too: it shows the same shared progress in its own page, and both trace. Then each
session opens every panel (attribution, logit lens, bertviz, contributions, ablation, branch) and the Compare
page. Last, one session switches model in the sidebar (a new adapter: a second load) while the other traces.
Every step fails on an exception box or an unexpected error (`tests.e2e.conftest.assert_no_problem`).

Deadlines, measured on the 2-core machine (`pytest tests/e2e/test_first_start_e2e.py -s` prints each wait): the
first load with its conversion plus a 6-token trace took about 40 s for both sessions (FIRST_RUN_S); each panel
a few seconds (VIEW_S); the sweep of 300 components about 10 s with two sessions open.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.served_app import ServerFailed, served_app
from tests.conftest import OFFLINE_CHAT_MODEL
from tests.e2e.conftest import new_page, timed, wait_for_app_idle
from tests.tiny_adapter import TINY_ADAPTER, make_tiny_adapter

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FIRST_RUN_S = 180  # conversion (~20 s alone) and load, then a trace, beside a second session doing the same
RUN_S = 60
VIEW_S = 60
TOKENS = 6
PROMPT_A = "用一句话介绍长城。"
PROMPT_B = "What is the capital of France?"
PROMPT_LONG = "Write a long story about the sea."  # no end of text within 12 tokens


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fresh-home")


@pytest.fixture(scope="module")
def fresh_app(fresh_home, tmp_path_factory):
    """`make run` with MOMENTSCOPE_HOME a new empty folder: nothing converted, no job store, no gallery."""
    log_path = tmp_path_factory.mktemp("fresh-server") / "streamlit.log"
    try:
        with served_app(log_path, env={"MOMENTSCOPE_HOME": str(fresh_home)}) as url:
            yield url
    except ServerFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture
def two_sessions(browser):
    pages = [new_page(browser), new_page(browser)]
    try:
        yield pages
        for tab in pages:
            wait_for_app_idle(tab)
    finally:
        for tab in pages:
            tab.context.close()


def click_run(page, prompt: str, tokens: int) -> None:
    page.get_by_role("textbox", name="Prompt").fill(prompt)
    page.get_by_label("Max new tokens").fill(str(tokens))
    page.get_by_label("Max new tokens").press("Enter")
    wait_for_app_idle(page)
    page.get_by_role("button", name="Run").click()


def traced(page, tokens: int, deadline_s: float) -> None:
    page.get_by_text(f"Moment 0 of {tokens - 1}").wait_for(timeout=deadline_s * 1000)
    wait_for_app_idle(page, int(deadline_s * 1000))


def open_every_panel(page) -> None:
    """Attribution, logit lens, bertviz, contributions, the ablation sweep and a branch, at moment 0."""
    with timed("attribution"):
        page.get_by_role("button", name="Attribute moment 0").click()
        page.get_by_text("Towards:").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    with timed("logit lens"):
        page.get_by_text("Logit lens").click()
        page.get_by_text("becomes the top guess").or_(page.get_by_text("No layer had")).wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    with timed("bertviz"):
        page.get_by_text("bertviz views of the prefix").click()
        page.frame_locator("iframe[title='st.iframe']").first.locator("svg text").first.wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    with timed("contributions"):
        page.get_by_role("button", name="Decompose moment 0").click()
        page.get_by_text("sum of parts").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    with timed("ablation sweep"):
        page.get_by_role("tab", name="Ablation").click()
        wait_for_app_idle(page)
        page.get_by_role("button", name="Ablate every head and MLP").click()
        page.get_by_text("removed alone").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    with timed("branch"):
        page.get_by_text("What if… branch at this moment").click()
        wait_for_app_idle(page)
        page.get_by_role("button", name="Branch here").click()
        page.get_by_text("Parent:").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)


def compare(page, app_url: str) -> None:
    with timed("compare"):
        page.goto(f"{app_url}/compare")
        wait_for_app_idle(page)
        page.get_by_role("button", name="Compare").click()
        page.get_by_text("Mean KL(a‖b)").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)


def test_two_sessions_from_the_first_load_on_an_empty_data_home(
    fresh_app, fresh_home, two_sessions, monkeypatch, artifacts_dir
):
    a, b = two_sessions
    assert not any(fresh_home.iterdir()), "the data home was not empty"
    a.goto(f"{fresh_app}/fine_tune")  # the server's first visitor, on a page's own URL (its job store made now)
    wait_for_app_idle(a)
    a.get_by_role("heading", name="New job").wait_for()  # the Fine-tune page itself, not the main page
    a.goto(fresh_app)
    wait_for_app_idle(a)
    with timed("first load (conversion) and two traces"):
        click_run(a, PROMPT_A, TOKENS)
        a.get_by_text("converting").wait_for(timeout=RUN_S * 1000)  # the conversion's progress, in A's page
        b.goto(fresh_app)
        b.get_by_role("button", name="Run").wait_for()
        click_run(b, PROMPT_B, TOKENS)
        b.get_by_text("converting").wait_for(timeout=RUN_S * 1000)  # the same shared progress, in B's own page
        b.screenshot(path=str(artifacts_dir / "first-start-b-loading.png"))
        traced(a, TOKENS, FIRST_RUN_S)
        traced(b, TOKENS, FIRST_RUN_S)
    folders = [p for p in (fresh_home / "converted").iterdir() if p.is_dir()]
    assert len(folders) == 1 and folders[0].name.startswith(OFFLINE_CHAT_MODEL), folders  # once, none half-written

    for page in (b, a):  # B first: it never loaded the model itself
        open_every_panel(page)
        compare(page, fresh_app)

    # A switches to a second model (a new adapter, loaded now) while B traces on the first one
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(fresh_home))
    make_tiny_adapter(fresh_home)
    for page in (a, b):
        page.goto(fresh_app)
        wait_for_app_idle(page)
    a.get_by_label("Model", exact=True).click()
    a.get_by_role("option", name=TINY_ADAPTER).click()
    wait_for_app_idle(a)
    with timed("a second model loaded by A while B traces"):
        click_run(b, PROMPT_LONG, 12)
        click_run(a, PROMPT_A, TOKENS)
        traced(b, 12, RUN_S)
        traced(a, TOKENS, RUN_S)
    assert TINY_ADAPTER in a.inner_text("[data-testid='stMain']")
    assert TINY_ADAPTER not in b.inner_text("[data-testid='stMain']")
    a.screenshot(path=str(artifacts_dir / "first-start-a.png"), full_page=True)
    b.screenshot(path=str(artifacts_dir / "first-start-b.png"), full_page=True)
