"""The class gallery: lessons saved in the data folder, one folder each.

``<data home>/gallery/<id>/trace.safetensors`` is the lesson's trace (the trace file format, written once) and
``lesson.json`` beside it holds the title, the notes, the dates and a summary for listing (model, prompt,
number of moments), so saving edited notes rewrites only the small file and the list reads no trace.
A lesson's id is what a link names (``?trace=<id>``): lowercase letters, digits and dashes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model_zoo.paths import data_dir
from tracing.core.trace import load_trace
from tracing.lessons.lesson import Lesson, Note, now_text

LESSON_FILE = "lesson.json"
TRACE_FILE = "trace.safetensors"
FORMAT_NAME = "momentscope-lesson"
FORMAT_VERSION = 1
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class LessonSummary:
    """One line of the gallery's list; ``problem`` says why a lesson folder could not be read (then the other
    fields are empty)."""

    id: str
    title: str = ""
    model: str = ""
    prompt: str = ""
    moments: int = 0
    notes: int = 0
    created: str = ""
    updated: str = ""
    problem: str | None = None


class Gallery:
    """The lessons under one folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def save(self, lesson: Lesson) -> str:
        """Saves a lesson (a new one gets a fresh id; one with an id is saved again in its place) and returns its
        id. Raises ValueError naming the first problem with the lesson."""
        checked = lesson.checked()
        lesson_id = self.check_id(lesson.id) if lesson.id is not None else self._new_id()
        folder = self.folder / lesson_id
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / TRACE_FILE).exists():
            checked.trace.save(folder / TRACE_FILE)
        trace = checked.trace
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "id": lesson_id,
            "title": checked.title,
            "created": checked.created,
            "updated": now_text(),
            "notes": [note.to_json() for note in checked.notes.values()],
            "summary": {"model": trace.identity.name, "prompt": trace.prompt, "moments": len(trace.moments)},
        }
        _write_atomically(folder / LESSON_FILE, json.dumps(meta, ensure_ascii=False, indent=1))
        return lesson_id

    def load(self, lesson_id: str) -> Lesson:
        """The lesson saved under ``lesson_id``; ValueError with a readable message when there is none or it is
        damaged."""
        meta = self._meta(self.check_id(lesson_id))
        try:
            trace = load_trace(self.folder / lesson_id / TRACE_FILE)
        except (OSError, ValueError) as exc:
            raise ValueError(f"Lesson {lesson_id!r} could not be read: its trace file is damaged ({exc}).") from exc
        try:
            notes = [Note.from_json(item) for item in meta.get("notes", [])]
            lesson = Lesson(meta["title"], trace, {note.moment: note for note in notes}, meta["created"], lesson_id)
            return lesson.checked()
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"Lesson {lesson_id!r} could not be read: {LESSON_FILE} is damaged ({exc}).") from exc

    def summaries(self) -> list[LessonSummary]:
        """Every lesson, most recently saved first; a damaged one is listed with its problem."""
        if not self.folder.is_dir():
            return []
        found = []
        for folder in self.folder.iterdir():
            if not ID_PATTERN.fullmatch(folder.name) or not (folder / LESSON_FILE).exists():
                continue  # not a lesson, or one whose first save is still being written
            try:
                meta = self._meta(folder.name)
                summary = meta["summary"]
                found.append(
                    LessonSummary(
                        id=folder.name,
                        title=str(meta["title"]),
                        model=str(summary["model"]),
                        prompt=str(summary["prompt"]),
                        moments=int(summary["moments"]),
                        notes=len(meta.get("notes", [])),
                        created=str(meta["created"]),
                        updated=str(meta.get("updated", meta["created"])),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                found.append(LessonSummary(id=folder.name, problem=str(exc)))

        def saved(summary: LessonSummary) -> tuple[str, int]:  # to the second, then the file's own time
            path = self.folder / summary.id / LESSON_FILE
            return summary.updated, path.stat().st_mtime_ns if path.exists() else 0

        return sorted(found, key=saved, reverse=True)

    def check_id(self, lesson_id: object) -> str:
        """``lesson_id`` if it is one a gallery can hold; ValueError otherwise."""
        if not isinstance(lesson_id, str) or not ID_PATTERN.fullmatch(lesson_id):
            raise ValueError(
                f"{lesson_id!r} is not a lesson id: ids are up to 64 lowercase letters, digits and dashes, "
                "as the gallery lists them."
            )
        return lesson_id

    def _meta(self, lesson_id: str) -> dict:
        path = self.folder / lesson_id / LESSON_FILE
        if not path.exists():
            raise ValueError(f"There is no lesson {lesson_id!r} in the class gallery ({self.folder}).")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"Lesson {lesson_id!r} could not be read: {LESSON_FILE} is not valid JSON ({exc})."
            ) from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME or meta.get("version", 0) > FORMAT_VERSION:
            raise ValueError(f"Lesson {lesson_id!r} could not be read: {LESSON_FILE} is not a Momentscope lesson.")
        return meta

    def _new_id(self) -> str:
        """A fresh id, its folder made (so two lessons saved at once never share one)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            lesson_id = secrets.token_hex(4)
            try:
                (self.folder / lesson_id).mkdir()
            except FileExistsError:
                continue
            return lesson_id


def class_gallery() -> Gallery:
    """The gallery in the data folder (``<data home>/gallery``)."""
    return Gallery(data_dir("gallery"))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
