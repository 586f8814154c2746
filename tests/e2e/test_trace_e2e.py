"""The Trace page in a real browser: a short trace on the offline default, then another moment.

Checks that the generated tokens are clickable, that all three panels (an attribution asked for at both
moments) redraw for the new moment, that the bertviz view renders from our own inline scripts, and that no
request leaves 127.0.0.1. Leaves the README screenshot in docs/screenshots/trace-page.png.

Uses a Chinese prompt whose answer (Chinese characters, each split over two or three byte-level tokens) must
read as characters in the token strip and the panels, never as byte escapes.

Deadlines, measured on the 2-core machine with other work on the second core (`pytest
tests/e2e/test_trace_e2e.py -s` prints each wait): the 12-token trace is explorable 4.7 s after the click on
Run (deadline RUN_S), an Input x Gradient attribution is drawn in 1.8 s (ATTRIBUTE_S), a moment switch
settles in 1.4 s, 0.8 s of it the fixed pause of `settle` (SWITCH_S).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import timed, wait_for_app_idle

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PANELS = "[data-testid='stColumn']:has(h3)"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
RUN_S = 20
ATTRIBUTE_S = 10
SWITCH_S = 6
PROMPT = "请写一个关于灯塔看守人的短故事。"  # greedy, the offline model answers 灯塔看守人...


def settle(page) -> None:
    """Waits for the script run and for the charts of the panels to be drawn."""
    wait_for_app_idle(page)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3")
    page.wait_for_timeout(800)


def panel_texts(page) -> dict[str, str]:
    texts = {}
    for panel in page.locator(PANELS).all():
        title = panel.locator("h3").first.inner_text().strip()
        texts[title] = panel.inner_text()
    return texts


def go_to_moment(page, index: int) -> None:
    with timed(f"switch to moment {index}"):
        page.locator(f".ms-tok[data-i='{index}']").click()
        page.get_by_text(f"Moment {index} of").wait_for(timeout=SWITCH_S * 1000)
        settle(page)


def attribute(page, index: int) -> None:
    with timed(f"attribute moment {index}"):
        page.get_by_role("button", name=f"Attribute moment {index}").click()
        page.get_by_text("Towards:").wait_for(timeout=ATTRIBUTE_S * 1000)
        settle(page)


def test_trace_page_runs_explores_and_stays_on_loopback(app_url, page):
    page.goto(app_url)
    wait_for_app_idle(page)
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.get_by_label("Max new tokens").fill("12")
    page.get_by_label("Max new tokens").press("Enter")
    wait_for_app_idle(page)
    with timed("12-token trace"):
        page.get_by_role("button", name="Run").click()
        page.get_by_text("Moment 0 of").wait_for(timeout=RUN_S * 1000)
        settle(page)
    assert page.locator(".ms-tok[data-i]").count() >= 6
    body = page.inner_text("body")
    assert "Ġ" not in body and "Ċ" not in body
    strip = "".join(page.locator(".ms-tok[data-i]").all_inner_texts())
    assert "灯" in strip and "塔" in strip, strip  # split characters read as characters
    assert "\\x" not in body and "�" not in body

    go_to_moment(page, 2)
    attribute(page, 2)
    before = panel_texts(page)
    assert set(before) == {"Attention", "Probabilities", "Attributions"}, before
    go_to_moment(page, 5)
    attribute(page, 5)
    after = panel_texts(page)
    for title, text in before.items():
        assert after[title] != text, f"the {title} panel did not change with the moment"

    page.get_by_text("bertviz views of the prefix").click()
    wait_for_app_idle(page)
    frame = page.frame_locator("iframe[title='st.iframe']").first
    frame.locator("svg text").first.wait_for()

    page.get_by_text("Logit lens").click()
    settle(page)
    page.get_by_text("becomes the top guess").or_(page.get_by_text("No layer had")).wait_for()

    outside = [url for url in page.requested_urls if urlparse(url).hostname not in (None, "127.0.0.1")]
    assert not outside, f"the page reached outside this machine: {outside}"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.get_by_text("bertviz views of the prefix").click()  # a shorter page for the README
    page.wait_for_function("() => !document.querySelector(\"iframe[title='st.iframe']\")")
    settle(page)
    main = "document.querySelector('[data-testid=\"stMain\"]')"
    height = page.evaluate(f"() => {main}.scrollHeight")
    page.set_viewport_size({"width": 1500, "height": min(max(height + 40, 1000), 3200)})
    page.evaluate(f"() => {main}.scrollTo(0, 0)")
    settle(page)
    page.screenshot(path=str(SCREENSHOTS / "trace-page.png"))
