"""A lesson link in a real browser: a lesson saved to the class gallery (Chinese notes, one pointing at a head)
opens from ``/?trace=<id>`` with its notes at their moments, the token strip marked there and the attention panel
on the note's head; its offline HTML page shows the same notes. Leaves the README screenshot in
docs/screenshots/lesson.png.

Deadlines, measured on the 2-core machine (`pytest tests/e2e/test_lesson_e2e.py -s` prints each wait): the link
opens to an explorable trace in 7.4 s on a server that has drawn no chart yet (plotly's first figures, no model
loaded), 1.8 s on a warm one (deadline OPEN_S); a switch to the noted moment settles in 1.5 s, 0.8 s of it the
fixed pause of `settle` (SWITCH_S); the offline page shows a note in 0.2 s (HTML_S).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import timed, wait_for_app_idle
from tests.e2e.test_trace_e2e import SCREENSHOTS, settle
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.export.html import render_html
from tracing.lessons.gallery import class_gallery
from tracing.lessons.lesson import Lesson, Note

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
OPEN_S = 25
SWITCH_S = 6
HTML_S = 5
TITLE = "第一课：模型怎么回答算术题"
NOTES = {
    2: Note(2, "看这里：模型开始写答案了。"),
    5: Note(5, "看第 3 层第 5 个头：它在看题目里的数字吗？", layer=3, head=5),
}


@pytest.fixture
def lesson_id(smollm):
    """A lesson in the data folder the served app reads (the test suite's), removed afterwards."""
    trace = trace_generation(smollm, "小明有三个苹果，吃了一个，还剩几个？", DecodingSettings(max_new_tokens=12))
    lesson = Lesson(TITLE, trace, dict(NOTES))
    saved = class_gallery().save(lesson)
    yield saved
    shutil.rmtree(Path(class_gallery().folder) / saved, ignore_errors=True)


def test_a_lesson_link_opens_with_its_notes(app_url, page, lesson_id):
    page.goto(app_url)  # the server's first script run imports the engine; the link is timed on a warm server
    wait_for_app_idle(page)
    with timed("open the lesson link"):
        page.goto(f"{app_url}/?trace={lesson_id}")
        page.get_by_text("Moment 0 of").wait_for(timeout=OPEN_S * 1000)
        settle(page)
    assert page.get_by_text(f"Lesson: {TITLE}").is_visible()
    marked = page.locator(".ms-tok.ms-mark").evaluate_all("els => els.map(e => +e.dataset.i)")
    assert marked == [2, 5]
    assert not page.get_by_text(NOTES[5].text).is_visible()  # a note shows at its moment only

    with timed("switch to the noted moment 5"):
        page.locator(".ms-tok[data-i='5']").click()
        page.get_by_text("Moment 5 of").wait_for(timeout=SWITCH_S * 1000)
        settle(page)
    note = page.locator("[data-testid='stAlertContainer']").filter(has_text=NOTES[5].text)
    note.wait_for(timeout=SWITCH_S * 1000)
    assert "Look at layer 3, head 5." in note.inner_text()
    assert page.get_by_text("Layer 3, head 5 looks most at").is_visible()  # the attention panel on that head
    body = page.inner_text("body")
    assert "\\x" not in body and "�" not in body
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1500, "height": 1750})  # down to the attention panel's head line
    settle(page)
    page.screenshot(path=str(SCREENSHOTS / "lesson.png"))

    lesson = class_gallery().load(lesson_id)
    with timed("offline page shows the note"):
        page.set_content(render_html(lesson.trace, lesson.title, list(lesson.notes.values())))
        page.locator("#generated .tok").nth(5).click()
        page.locator("#panel .note").wait_for(timeout=HTML_S * 1000)
    assert NOTES[5].text in page.locator("#panel .note").inner_text()
    assert page.locator("h1").inner_text() == TITLE
    assert page.locator("#generated .tok.noted").count() == 2
