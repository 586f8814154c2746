"""``python -m tracing lesson save | list | show``: the class gallery from a terminal (the Gallery page's lessons).

A note is given as ``MOMENT:TEXT``, or ``MOMENT@LAYER.HEAD:TEXT`` for one that points at a head
(``--note "5@3.5:看第 3 层第 5 个头"``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tracing.cli.options import Subcommand, UsageError, quoted, read_trace
from tracing.cli.trace_commands import format_trace
from tracing.inspection.steering.lesson_vectors import carried_vectors, carry_vector
from tracing.inspection.steering.vector import load_vector
from tracing.lessons.gallery import class_gallery
from tracing.lessons.lesson import Lesson, Note

NOTE_PATTERN = re.compile(r"(?P<moment>\d+)(?:@(?P<layer>\d+)\.(?P<head>\d+))?:(?P<text>.*)", re.S)


def parse_note(text: str) -> Note:
    match = NOTE_PATTERN.fullmatch(text)
    if match is None:
        raise UsageError(f"--note {text!r}: write MOMENT:TEXT or MOMENT@LAYER.HEAD:TEXT, e.g. '5@3.5:look here'.")
    layer, head = match["layer"], match["head"]
    return Note(
        int(match["moment"]), match["text"], None if layer is None else int(layer), None if head is None else int(head)
    )


def add_lesson_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    save = actions.add_parser("save", help="save a trace file as a lesson in the class gallery")
    save.add_argument("file", type=Path, help="a trace file written by `run`")
    save.add_argument("--title", required=True, help="what the class will look at")
    save.add_argument("--note", action="append", default=[], help="MOMENT:TEXT or MOMENT@LAYER.HEAD:TEXT (repeat)")
    save.add_argument(
        "--vector", action="append", default=[], help="a saved steering vector the lesson carries (repeat)"
    )
    actions.add_parser("list", help="list the lessons, newest first")
    show = actions.add_parser("show", help="print a lesson: its notes and its moments")
    show.add_argument("id", help="the lesson's id, as `lesson list` prints it")
    show.add_argument("--html", type=Path, default=None, help="also write its offline HTML page, notes included")


def run_save(args: argparse.Namespace) -> int:
    notes = [parse_note(text) for text in args.note]
    moments = [note.moment for note in notes]
    if len(set(moments)) != len(moments):
        raise UsageError("Two --note options name the same moment; a moment holds one note.")
    lesson = Lesson(args.title, read_trace(args.file), {note.moment: note for note in notes})
    vectors = [load_vector(name) for name in args.vector]  # every name checked before the lesson is saved
    lesson_id = class_gallery().save(lesson)
    for vector in vectors:
        carry_vector(class_gallery(), lesson_id, vector)
    print(f"saved lesson {lesson_id} ({len(notes)} notes) in {class_gallery().folder}; its link: ?trace={lesson_id}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    summaries = class_gallery().summaries()
    if not summaries:
        print(f"no lessons in {class_gallery().folder}")
    for s in summaries:
        if s.problem:
            print(f"{s.id:<10} cannot be read: {s.problem}")
        else:
            print(
                f"{s.id:<10} {s.updated[:16]}  {s.moments:>4} moments {s.notes:>3} notes  {s.model}  {quoted(s.title, 60)}"
            )
    return 0


def run_show(args: argparse.Namespace) -> int:
    lesson = class_gallery().load(args.id)
    lines = [f"lesson  {lesson.id}: {lesson.title} (first saved {lesson.created})"]
    for note in lesson.notes.values():
        head = f" [{note.head_label}]" if note.head_label else ""
        lines.append(f"note    moment {note.moment}{head}: {note.text}")
    for vector in carried_vectors(class_gallery(), lesson.id):
        lines.append(f"vector  {vector.name} at layer {vector.layer}, norm {vector.norm:.3f}")
    print("\n".join(lines) + "\n" + format_trace(lesson.trace))
    if args.html is not None:
        from tracing.export.html import write_html

        path = write_html(lesson.trace, args.html, lesson.title, list(lesson.notes.values()))
        print(f"wrote {path}")
    return 0


ACTIONS = {"save": run_save, "list": run_list, "show": run_show}


def run_lesson(args: argparse.Namespace) -> int:
    return ACTIONS[args.action](args)


SUBCOMMANDS: dict[str, Subcommand] = {
    "lesson": Subcommand("save, list and show the class gallery's lessons", add_lesson_arguments, run_lesson),
}
