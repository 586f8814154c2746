"""A lesson: a trace with a title and notes pinned to its moments, as a teacher prepares it for a class.

A note is text in any language at one moment ("look at head 3.5 here"); it may point at one attention head
(its layer and head), so that opening the note shows that head. A moment holds at most one note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tracing.core.trace import Trace

TITLE_LIMIT = 200
NOTE_LIMIT = 4000


def now_text() -> str:
    """The time now, as lessons record it (ISO 8601, UTC, to the second)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Note:
    """A note at moment ``moment``; ``layer`` and ``head`` name the attention head it points at (both or neither)."""

    moment: int
    text: str
    layer: int | None = None
    head: int | None = None

    @property
    def head_label(self) -> str | None:
        """``"layer 3, head 5"``, or None for a note that points at no head."""
        return None if self.layer is None else f"layer {self.layer}, head {self.head}"

    def to_json(self) -> dict:
        return {"moment": self.moment, "text": self.text, "layer": self.layer, "head": self.head}

    @classmethod
    def from_json(cls, data: dict) -> Note:
        return cls(int(data["moment"]), str(data["text"]), data.get("layer"), data.get("head"))

    def check(self, trace: Trace) -> Note:
        """Raises ValueError naming what is wrong with this note on ``trace``; returns the note with its text
        stripped."""
        count = len(trace.moments)
        if not isinstance(self.moment, int) or not 0 <= self.moment < count:
            raise ValueError(f"A note is pinned to moment {self.moment!r}, but the trace has moments 0 to {count - 1}.")
        text = self.text.strip() if isinstance(self.text, str) else ""
        if not text:
            raise ValueError(f"The note at moment {self.moment} is empty: write something or remove the note.")
        if len(text) > NOTE_LIMIT:
            raise ValueError(f"The note at moment {self.moment} is {len(text)} characters; notes hold {NOTE_LIMIT}.")
        if (self.layer is None) != (self.head is None):
            raise ValueError(f"The note at moment {self.moment} names a layer or a head alone: give both or neither.")
        if self.layer is not None:
            layers, heads = trace.num_layers, trace.num_heads
            if layers is None:
                raise ValueError(f"The note at moment {self.moment} points at a head, but the trace kept no attention.")
            if not (isinstance(self.layer, int) and 0 <= self.layer < layers):
                raise ValueError(
                    f"The note at moment {self.moment} names layer {self.layer}; the model has 0 to {layers - 1}."
                )
            if not (isinstance(self.head, int) and 0 <= self.head < heads):
                raise ValueError(
                    f"The note at moment {self.moment} names head {self.head}; the model has 0 to {heads - 1}."
                )
        return Note(self.moment, text, self.layer, self.head)


@dataclass(eq=False)
class Lesson:
    """A trace, its title, its notes by moment, when it was first saved, and its gallery id (None until saved)."""

    title: str
    trace: Trace
    notes: dict[int, Note] = field(default_factory=dict)
    created: str = field(default_factory=now_text)
    id: str | None = None

    def checked(self) -> Lesson:
        """Raises ValueError naming the first problem (an empty title, a bad note); returns the lesson with its
        title and notes stripped and the notes in moment order."""
        title = self.title.strip() if isinstance(self.title, str) else ""
        if not title:
            raise ValueError("A lesson needs a title: say in a few words what the class will look at.")
        if len(title) > TITLE_LIMIT:
            raise ValueError(f"The lesson's title is {len(title)} characters; titles hold {TITLE_LIMIT}.")
        for moment, note in self.notes.items():
            if moment != note.moment:
                raise ValueError(f"The note filed at moment {moment} says it belongs to moment {note.moment}.")
        notes = {moment: self.notes[moment].check(self.trace) for moment in sorted(self.notes)}
        return Lesson(title, self.trace, notes, self.created, self.id)
