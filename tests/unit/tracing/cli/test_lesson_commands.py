"""``python -m tracing lesson``: save a trace file as a lesson with Chinese notes, list it, show it (and its HTML
page); bad notes and unknown ids exit 2 with one clear line."""

from __future__ import annotations

import pytest

from tests.unit.tracing.conftest import run_cli
from tests.unit.tracing.core.test_trace import make_trace
from tracing.lessons.gallery import class_gallery
from tracing.lessons.lesson import Note


@pytest.fixture
def trace_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path / "home"))
    return make_trace().save(tmp_path / "t.safetensors")


def test_save_list_and_show_a_lesson(capsys, trace_file, tmp_path):
    code, out, err = run_cli(
        capsys,
        "lesson",
        "save",
        str(trace_file),
        "--title",
        "注意力",
        "--note",
        "1:看这里",
        "--note",
        "3@2.1:第 2 层第 1 个头",
    )
    assert code == 0, err
    [summary] = class_gallery().summaries()
    assert f"saved lesson {summary.id} (2 notes)" in out and f"?trace={summary.id}" in out
    assert class_gallery().load(summary.id).notes == {1: Note(1, "看这里"), 3: Note(3, "第 2 层第 1 个头", 2, 1)}

    code, out, _ = run_cli(capsys, "lesson", "list")
    assert code == 0 and summary.id in out and "5 moments   2 notes" in out and "'注意力'" in out

    html = tmp_path / "lesson.html"
    code, out, _ = run_cli(capsys, "lesson", "show", summary.id, "--html", str(html))
    assert code == 0
    assert f"lesson  {summary.id}: 注意力" in out
    assert "note    moment 3 [layer 2, head 1]: 第 2 层第 1 个头" in out
    assert "看这里" in html.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--title", "t", "--note", "three:x"], "write MOMENT:TEXT or MOMENT@LAYER.HEAD:TEXT"),
        (["--title", "t", "--note", "1:a", "--note", "1:b"], "the same moment"),
        (["--title", "t", "--note", "9:x"], "moment 9, but the trace has moments 0 to 4"),
        (["--title", " "], "needs a title"),
    ],
)
def test_bad_lessons_exit_2(capsys, trace_file, args, message):
    code, _, err = run_cli(capsys, "lesson", "save", str(trace_file), *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert class_gallery().summaries() == []


def test_an_unknown_lesson_exits_2(capsys, trace_file):
    code, _, err = run_cli(capsys, "lesson", "show", "feedbeef")
    assert code == 2 and "There is no lesson 'feedbeef'" in err
