"""The interventions panel in a real browser, on a Chinese prompt: contributions, the head sweep and the
commitment map are drawn on request; on an adapter, patching and a click on the commitment map. Leaves
docs/screenshots/interventions.png for the README.

Deadlines, measured on the 2-core machine (`pytest tests/e2e/test_interventions_e2e.py -s` prints each
wait): the 8-token trace is explorable in about 13 s (deadline RUN_S), contributions in about 2 s, the
sweep of 300 components in about 6 s, the commitment map in about 2 s (VIEW_S each).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import run_trace, timed, wait_for_app_idle
from tests.tiny_adapter import TINY_ADAPTER, make_tiny_adapter

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
RUN_S = 30
VIEW_S = 40
PROMPT = "小明有三个苹果，吃了一个，还剩几个？"


def test_interventions_on_a_chinese_trace(app_url, page):
    page.goto(app_url)
    wait_for_app_idle(page)
    run_trace(page, PROMPT, 8, RUN_S, "8-token trace")
    page.locator(".ms-tok[data-i='2']").click()
    page.get_by_text("Moment 2 of").wait_for()
    wait_for_app_idle(page)
    with timed("contributions"):
        page.get_by_role("button", name="Decompose moment 2").click()
        page.get_by_text("sum of parts").wait_for(timeout=VIEW_S * 1000)
    page.get_by_role("tab", name="Ablation").click()
    with timed("sweep"):
        page.get_by_role("button", name="Ablate every head and MLP").click()
        page.get_by_text("removed alone").wait_for(timeout=VIEW_S * 1000)
    page.get_by_role("tab", name="Commitment").click()
    with timed("commitment"):
        page.get_by_role("button", name="Read every moment").click()
        page.get_by_text("stays the top guess").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    body = page.inner_text("body")
    assert "Ġ" not in body and "‹" not in page.inner_text("[data-testid='stMain'] .ms-strip >> nth=1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.get_by_role("tab", name="Contributions").click()
    page.wait_for_timeout(800)
    page.get_by_text("sum of parts").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "interventions.png"), full_page=False)


def test_patching_and_a_click_on_the_commitment_map_on_an_adapter(app_url, page):
    """On the tiny test adapter: patching an edited prompt draws its heatmap, and a click on a row of the
    commitment map moves the whole explorer to that moment. Measured: the 6-token trace in about 6 s, the
    patch (every layer at the edited positions and the moment) in about 7 s, the map in about 2 s, the click's
    move in about 3 s (under a loaded machine)."""
    make_tiny_adapter(Path(os.environ["MOMENTSCOPE_HOME"]))  # the served app's data home
    page.goto(app_url)
    wait_for_app_idle(page)
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name=TINY_ADAPTER).click()
    wait_for_app_idle(page)
    run_trace(page, PROMPT, 6, RUN_S, "6-token adapter trace")
    assert TINY_ADAPTER in page.inner_text("[data-testid='stMain']")
    page.get_by_role("tab", name="Patching").click()
    page.get_by_label(re.compile("^Edited prompt")).fill("小红有三个苹果，吃了一个，还剩几个？")
    page.get_by_label(re.compile("^Edited prompt")).press("Control+Enter")
    wait_for_app_idle(page)
    with timed("patching"):
        page.get_by_role("button", name="Patch moment 0").click()
        page.get_by_text("the share of that difference").wait_for(timeout=VIEW_S * 1000)
    page.locator(".st-key-iv_patch_map .main-svg").first.wait_for()
    page.get_by_role("tab", name="Commitment").click()
    with timed("commitment"):
        page.get_by_role("button", name="Read every moment").click()
        page.get_by_text("stays the top guess").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    grid = page.locator(".st-key-iv_commit_map .nsewdrag").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    rows = 6  # moment 0 on top
    with timed("click on the commitment map"):
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * (3.5 / rows))
        page.get_by_text("Moment 3 of 5").wait_for(timeout=VIEW_S * 1000)
