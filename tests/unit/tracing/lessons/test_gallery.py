"""Lessons in the class gallery: saved, listed and loaded back equal (notes in Chinese included), saved again
in place, and every kind of bad input (an empty title, a bad note, an unknown, malformed or damaged id) named."""

from __future__ import annotations

import json

import pytest

from tests.unit.tracing.core.test_trace import make_trace
from tracing.core.trace import traces_equal
from tracing.lessons.gallery import LESSON_FILE, TRACE_FILE, Gallery
from tracing.lessons.lesson import Lesson, Note

NOTES = {
    0: Note(0, "注意这里：模型先看提示的第一个词。"),
    2: Note(2, "看第 1 层第 1 个头：它盯着“苹果”。\n第二行也要保留。", layer=1, head=1),
}


@pytest.fixture
def gallery(tmp_path) -> Gallery:
    return Gallery(tmp_path / "gallery")


def test_a_lesson_saves_lists_and_loads_back_equal(gallery):
    trace = make_trace()
    lesson_id = gallery.save(Lesson("  注意力头 1.1 在看什么  ", trace, dict(NOTES)))
    assert (gallery.folder / lesson_id / TRACE_FILE).exists()
    back = gallery.load(lesson_id)
    assert back.id == lesson_id and back.title == "注意力头 1.1 在看什么"  # stripped
    assert traces_equal(back.trace, trace)
    assert back.notes == NOTES and list(back.notes) == [0, 2]
    assert back.notes[2].head_label == "layer 1, head 1"
    raw = (gallery.folder / lesson_id / LESSON_FILE).read_text(encoding="utf-8")
    assert "注意这里" in raw  # written as text, not \\u escapes, so a teacher can read the file

    [summary] = gallery.summaries()
    assert (summary.id, summary.title, summary.model, summary.prompt) == (
        lesson_id,
        "注意力头 1.1 在看什么",
        trace.identity.name,
        trace.prompt,
    )
    assert (summary.moments, summary.notes, summary.problem) == (5, 2, None)
    assert summary.created.endswith("Z") and summary.updated >= summary.created


def test_saving_again_keeps_the_id_and_the_trace_file_and_updates_the_notes(gallery):
    lesson = Lesson("Heads", make_trace(), dict(NOTES))
    lesson.id = gallery.save(lesson)
    trace_file = gallery.folder / lesson.id / TRACE_FILE
    written = trace_file.stat().st_mtime_ns
    lesson.notes = {1: Note(1, "新的笔记")}
    assert gallery.save(lesson) == lesson.id
    assert trace_file.stat().st_mtime_ns == written  # the trace is written once
    back = gallery.load(lesson.id)
    assert back.notes == {1: Note(1, "新的笔记")} and back.created == lesson.created
    second = gallery.save(Lesson("Another", make_trace(3)))
    assert second != lesson.id and [s.id for s in gallery.summaries()] == [second, lesson.id]  # newest first


@pytest.mark.parametrize(
    ("title", "notes", "message"),
    [
        ("   ", {}, "needs a title"),
        ("t", {9: Note(9, "x")}, "moment 9, but the trace has moments 0 to 4"),
        ("t", {1: Note(1, "  ")}, "note at moment 1 is empty"),
        ("t", {1: Note(1, "x", layer=1)}, "a layer or a head alone"),
        ("t", {1: Note(1, "x", layer=3, head=0)}, "names layer 3; the model has 0 to 2"),
        ("t", {1: Note(1, "x", layer=0, head=2)}, "names head 2; the model has 0 to 1"),
        ("t", {1: Note(2, "x")}, "filed at moment 1 says it belongs to moment 2"),
    ],
)
def test_a_bad_lesson_is_refused_with_a_message_naming_the_problem(gallery, title, notes, message):
    with pytest.raises(ValueError, match=message):
        gallery.save(Lesson(title, make_trace(), notes))
    assert gallery.summaries() == []


def test_unknown_malformed_and_damaged_ids_are_named(gallery):
    with pytest.raises(ValueError, match="There is no lesson 'abc123' in the class gallery"):
        gallery.load("abc123")
    for bad in ("../etc", "A B", "", "x" * 65):
        with pytest.raises(ValueError, match="is not a lesson id"):
            gallery.load(bad)
    broken = gallery.save(Lesson("broken json", make_trace()))
    (gallery.folder / broken / LESSON_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=f"Lesson '{broken}' could not be read: lesson.json is not valid JSON"):
        gallery.load(broken)
    damaged = gallery.save(Lesson("damaged trace", make_trace()))
    (gallery.folder / damaged / TRACE_FILE).write_bytes(b"garbage")
    with pytest.raises(ValueError, match=f"Lesson '{damaged}' could not be read: its trace file is damaged"):
        gallery.load(damaged)
    other = gallery.save(Lesson("other format", make_trace()))
    (gallery.folder / other / LESSON_FILE).write_text(json.dumps({"format": "something"}), encoding="utf-8")
    with pytest.raises(ValueError, match="is not a Momentscope lesson"):
        gallery.load(other)
    problems = {s.id: s.problem for s in gallery.summaries()}
    assert "not valid JSON" in problems[broken] and "not a Momentscope lesson" in problems[other]
    assert problems[damaged] is None  # listing reads no trace; opening it names the damage
