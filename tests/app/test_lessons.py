"""Lessons on the Trace and Gallery pages: a lesson link opens its trace with the notes at their moments and no
model load; a teacher pins, edits and removes notes and saves the lesson (again); bad links and titles are named;
the offline HTML page carries the notes; the gallery lists lessons with links that open them."""

from __future__ import annotations

import json

import pytest

from page_glue.trace_cache import CurrentTrace
from tests.app.conftest import app_test, deferred_downloads
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings, traces_equal
from tracing.lessons.gallery import LESSON_FILE, class_gallery
from tracing.lessons.lesson import Lesson, Note

pytestmark = pytest.mark.slow

TITLE = "第一课：注意力头在看什么"
NOTES = {
    1: Note(1, "看这里：模型在想下一个词。"),
    4: Note(4, "看第 3 层第 5 个头：它盯着“苹果”。", layer=3, head=5),
}


@pytest.fixture(scope="module")
def lesson_trace(smollm):
    return trace_generation(
        smollm, "小明有三个苹果，吃了一个，还剩几个？", DecodingSettings(max_new_tokens=8, stop_at_eos=False)
    )


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A data folder of the test's own: its gallery starts empty."""
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def model_loads(monkeypatch):
    """Every model the pages ask the process's shared models for (recorded)."""
    from page_glue.models import MODELS

    loads = []
    real = MODELS.request
    monkeypatch.setattr(MODELS, "request", lambda model_id: loads.append(model_id) or real(model_id))
    return loads


def open_link(lesson_id: str):
    at = app_test("pages/trace.py")
    at.query_params["trace"] = lesson_id
    return at.run()


def note_infos(at) -> list[str]:
    return [box.value for box in at.info]


def strip_marks(at) -> list[int]:
    strip = next(e for e in at.get("bidi_component") if e.proto.id.endswith("trace_tokens"))
    html = json.loads(strip.proto.json)["html"]
    return [
        int(part.split('data-i="')[1].split('"')[0]) for part in html.split("<span class=")[1:] if "ms-mark" in part
    ]


def test_a_lesson_link_opens_with_its_notes_at_their_moments_and_no_model(home, lesson_trace, model_loads):
    lesson_id = class_gallery().save(Lesson(TITLE, lesson_trace, dict(NOTES)))
    at = open_link(lesson_id)
    assert not at.exception, at.exception
    assert traces_equal(at.session_state["trace_current"].trace, lesson_trace)
    assert at.text_area(key="trace_prompt").value == lesson_trace.prompt  # Run would trace it again
    assert strip_marks(at) == [1, 4]
    assert note_infos(at) == []  # moment 0 has no note
    at.slider(key="trace_slider").set_value(1).run()
    assert note_infos(at) == [NOTES[1].text]
    at.slider(key="trace_slider").set_value(4).run()
    assert note_infos(at) == [f"{NOTES[4].text}  \n*Look at layer 3, head 5.*"]
    assert at.number_input(key="trace_att_layer").value == 3  # the note's head, in the attention panel
    assert at.number_input(key="trace_att_head").value == 5
    at.number_input(key="trace_att_head").set_value(2).run()
    assert at.number_input(key="trace_att_head").value == 2  # the viewer may look elsewhere at the same moment
    assert any(TITLE in e.label for e in at.expander)
    assert model_loads == [], "opening a lesson loaded a model"
    assert at.query_params["trace"] == lesson_id  # the link stays, so a reload opens it again


def test_bad_links_are_named_and_the_page_stays_up(home, lesson_trace):
    at = open_link("0000dead")
    assert not at.exception
    assert "There is no lesson '0000dead' in the class gallery" in at.error[0].value
    at.run()
    assert at.error and "trace_current" not in at.session_state  # still said, nothing opened

    at = open_link("../../etc")
    assert "is not a lesson id" in at.error[0].value

    damaged = class_gallery().save(Lesson("damaged", lesson_trace))
    (home / "gallery" / damaged / LESSON_FILE).write_text("{", encoding="utf-8")
    at = open_link(damaged)
    assert f"Lesson '{damaged}' could not be read: lesson.json is not valid JSON" in at.error[0].value
    assert at.text_area(key="trace_prompt").value  # the page works on


def page_with(trace):
    at = app_test("pages/trace.py")
    at.session_state["trace_current"] = CurrentTrace(trace, "lesson-test", "test trace")
    return at.run()


def write_note(at, moment: int, text: str, head: tuple[int, int] | None = None):
    key = f"lesson_note_lesson-test_{moment}"
    at.slider(key="trace_slider").set_value(moment).run()
    at.text_area(key=f"{key}_text").input(text)
    if head is not None:
        at.toggle(key=f"{key}_points").set_value(True).run()
        at.number_input(key=f"{key}_layer").set_value(head[0])
        at.number_input(key=f"{key}_head").set_value(head[1])
    return at.button(key=f"{key}_save").click().run()


def test_a_teacher_pins_notes_saves_edits_and_saves_again(home, lesson_trace, monkeypatch):
    at = page_with(lesson_trace)
    at.button(key="lesson_save").click().run()
    assert "A lesson needs a title" in at.error[0].value and class_gallery().summaries() == []

    write_note(at, 2, "  ", None)
    assert "The note at moment 2 is empty" in at.error[0].value
    write_note(at, 2, "第二步：看第 1 层第 2 个头。", (1, 2))
    assert not at.exception, at.exception
    assert note_infos(at) == ["第二步：看第 1 层第 2 个头。  \n*Look at layer 1, head 2.*"]
    write_note(at, 5, "这里模型不太确定。")
    assert strip_marks(at) == [2, 5]
    at.text_input(key="lesson_title_lesson-test").input(TITLE)
    at.button(key="lesson_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [summary] = class_gallery().summaries()
    assert (summary.title, summary.notes) == (TITLE, 2)
    assert at.query_params["trace"] == summary.id  # the address is now the lesson's link
    saved = class_gallery().load(summary.id)
    assert saved.notes == {2: Note(2, "第二步：看第 1 层第 2 个头。", 1, 2), 5: Note(5, "这里模型不太确定。")}

    write_note(at, 5, "改过的笔记")
    at.slider(key="trace_slider").set_value(2).run()
    at.button(key="lesson_note_lesson-test_2_remove").click().run()
    assert strip_marks(at) == [5]
    at.button(key="lesson_save").click().run()
    again = class_gallery().load(summary.id)
    assert [s.id for s in class_gallery().summaries()] == [summary.id]  # saved in place, not a second lesson
    assert again.notes == {5: Note(5, "改过的笔记")} and again.created == saved.created

    produced = deferred_downloads(monkeypatch)
    at.run()
    page = produced[at.download_button(key="trace_download_html").proto.deferred_file_id]()
    assert f"<h1>{TITLE}</h1>" in page and "改过的笔记" in page and "第二步" not in page


def test_the_gallery_lists_lessons_with_links_that_open_them(home, lesson_trace):
    at = app_test("app.py").run()
    at.switch_page("pages/gallery.py").run()
    assert not at.exception, at.exception
    assert any("No lessons yet" in box.value for box in at.info)

    first = class_gallery().save(Lesson("第一课", lesson_trace, dict(NOTES)))
    second = class_gallery().save(Lesson("Second lesson", lesson_trace))
    at.run()
    assert not at.exception, at.exception
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles == ["**Second lesson**", "**第一课**"]  # the newest first
    assert any(f"{len(lesson_trace.moments)} moments · 2 notes" in c.value for c in at.caption)
    links = [link.proto for link in at.get("page_link")]
    assert [link.query_string for link in links] == [f"trace={second}", f"trace={first}"]
    assert all(link.page == "trace" for link in links)  # the Trace page
    assert [c.value.rsplit("?", 1)[1] for c in at.code] == [f"trace={second}", f"trace={first}"]


def test_a_new_run_leaves_the_lesson_link(home, lesson_trace):
    lesson_id = class_gallery().save(Lesson(TITLE, lesson_trace, dict(NOTES)))
    at = open_link(lesson_id)
    at.number_input(key="trace_max_new").set_value(2)
    at.button[0].click().run()  # Run, on the lesson's prompt
    assert at.session_state["trace_run"].wait(120)
    at.run()
    assert not at.exception, at.exception
    assert "trace" not in at.query_params  # the address no longer names a lesson the page does not show
    assert strip_marks(at) == [] and not note_infos(at)  # a new trace starts with no notes
    assert at.session_state["trace_current"].trace.prompt == lesson_trace.prompt
