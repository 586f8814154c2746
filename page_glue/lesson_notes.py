"""Lessons on the Trace page: open one from its link (``?trace=<id>``), show its notes at their moments, and let
the teacher add, edit and remove the note at the current moment and save the lesson to the class gallery.

A session keeps one `LessonDraft` (``DRAFT``): the title and notes of the trace being looked at, keyed by that
trace's key, so notes follow their trace and a new trace starts with none. Opening a lesson needs no model:
its trace comes from the gallery; only a new computation (attribution, logit lens, a branch) loads one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from page_glue.trace_cache import CurrentTrace
from tracing.inspection.steering.lesson_vectors import adopt_carried
from tracing.lessons.gallery import class_gallery
from tracing.lessons.lesson import Lesson, Note, now_text

QUERY = "trace"  # ?trace=<lesson id>
DRAFT = "lesson_draft"  # LessonDraft
OPENED = "lesson_opened"  # (lesson id of the link opened, the error it gave or None)
ARRIVED = "lesson_arrived"  # (trace key, moment) whose note's head was last applied
ERROR = "lesson_error"
# The attention panel's layer and head pickers (page_glue/trace_panels.py): a note pointing at a head sets them.
LAYER_KEY = "trace_att_layer"
HEAD_KEY = "trace_att_head"


@dataclass(eq=False)
class LessonDraft:
    """The lesson being prepared on (or opened with) one trace: ``lesson_id`` is None until it is saved."""

    trace_key: str
    lesson_id: str | None = None
    title: str = ""
    notes: dict[int, Note] = field(default_factory=dict)
    created: str | None = None
    saved: bool = True  # nothing changed since it was opened or saved

    def sorted_notes(self) -> tuple[Note, ...]:
        return tuple(self.notes[moment] for moment in sorted(self.notes))


def lesson_key(lesson_id: str) -> str:
    return f"lesson-{lesson_id}"


def draft_for(current: CurrentTrace) -> LessonDraft:
    """The session's draft for this trace (a fresh, empty one for a trace it has none for)."""
    draft: LessonDraft | None = st.session_state.get(DRAFT)
    if draft is None or draft.trace_key != current.key:
        draft = st.session_state[DRAFT] = LessonDraft(current.key)
    return draft


def linked_lesson() -> CurrentTrace | None:
    """The lesson the page's link names, as a trace to show, the first time this session sees the link; an
    unknown or damaged lesson is named in an error (shown while the link stays)."""
    lesson_id = st.query_params.get(QUERY)
    if not lesson_id:
        st.session_state.pop(OPENED, None)
        return None
    opened = st.session_state.get(OPENED)
    if opened is not None and opened[0] == lesson_id:
        if opened[1]:
            st.error(opened[1], icon=":material/error:")
        return None
    try:
        lesson = class_gallery().load(lesson_id)
    except ValueError as exc:
        st.session_state[OPENED] = (lesson_id, f"The link's lesson cannot be opened. {exc}")
        st.error(st.session_state[OPENED][1], icon=":material/error:")
        return None
    st.session_state[OPENED] = (lesson_id, None)
    adopt_carried(class_gallery(), lesson_id)  # its steering vectors among the saved ones, to pick by name
    current = CurrentTrace(lesson.trace, lesson_key(lesson_id), f"lesson {lesson_id}")
    st.session_state[DRAFT] = LessonDraft(current.key, lesson_id, lesson.title, dict(lesson.notes), lesson.created)
    return current


def leave_link(current: CurrentTrace) -> None:
    """Drops a lesson link from the address once another trace is shown (a run, an upload)."""
    lesson_id = st.query_params.get(QUERY)
    if lesson_id and current.key != lesson_key(lesson_id) and draft_for(current).lesson_id != lesson_id:
        del st.query_params[QUERY]


def noted_moments(current: CurrentTrace) -> dict[int, Note]:
    draft: LessonDraft | None = st.session_state.get(DRAFT)
    return dict(draft.notes) if draft is not None and draft.trace_key == current.key else {}


def follow_note_head(current: CurrentTrace, moment: int) -> None:
    """On arriving at a moment whose note points at a head, sets the attention panel to that head (once per
    arrival, so the viewer can pick another head there)."""
    arrived = (current.key, moment)
    if st.session_state.get(ARRIVED) == arrived:
        return
    st.session_state[ARRIVED] = arrived
    note = noted_moments(current).get(moment)
    if note is not None and note.layer is not None:
        st.session_state[LAYER_KEY] = note.layer
        st.session_state[HEAD_KEY] = note.head


# ---- the note at the current moment ---------------------------------------------------------------------


def note_box(current: CurrentTrace, moment: int) -> None:
    """The note pinned to ``moment``, if any, and a popover to add, edit or remove it."""
    draft = draft_for(current)
    note = draft.notes.get(moment)
    if note is not None:
        head = f"  \n*Look at {note.head_label}.*" if note.head_label else ""
        st.info(note.text + head, icon=":material/sticky_note_2:")
    key = f"lesson_note_{current.key}_{moment}"
    with st.popover("Edit the note" if note else "Add a note here", icon=":material/edit_note:"):
        if error := st.session_state.pop(f"{key}_error", None):
            st.error(error, icon=":material/error:")
        st.text_area(
            f"Note at moment {moment}",
            value=note.text if note else "",
            key=f"{key}_text",
            placeholder="e.g. 看第 3 层第 5 个头：它在看哪个词？",
        )
        trace = current.trace
        if trace.num_layers is not None:
            points = st.toggle(
                "Points at a head", value=note is not None and note.layer is not None, key=f"{key}_points"
            )
            if points:
                cols = st.columns(2)
                layer, head = (note.layer, note.head) if note is not None and note.layer is not None else (0, 0)
                cols[0].number_input("Layer", 0, trace.num_layers - 1, value=layer, key=f"{key}_layer")
                cols[1].number_input("Head", 0, trace.num_heads - 1, value=head, key=f"{key}_head")
        cols = st.columns(2)
        cols[0].button(
            "Save note", key=f"{key}_save", icon=":material/check:", on_click=save_note, args=(current, moment, key)
        )
        cols[1].button(
            "Remove",
            key=f"{key}_remove",
            icon=":material/delete:",
            on_click=remove_note,
            args=(current, moment),
            disabled=note is None,
        )


def save_note(current: CurrentTrace, moment: int, key: str) -> None:
    points = st.session_state.get(f"{key}_points", False)
    layer = st.session_state.get(f"{key}_layer") if points else None
    head = st.session_state.get(f"{key}_head") if points else None
    note = Note(
        moment,
        st.session_state.get(f"{key}_text") or "",
        None if layer is None else int(layer),
        None if head is None else int(head),
    )
    try:
        note = note.check(current.trace)
    except ValueError as exc:
        st.session_state[f"{key}_error"] = str(exc)
        return
    draft = draft_for(current)
    draft.notes[moment] = note
    draft.saved = False
    st.session_state[ARRIVED] = None  # the new note's head shows at once


def remove_note(current: CurrentTrace, moment: int) -> None:
    draft = draft_for(current)
    if draft.notes.pop(moment, None) is not None:
        draft.saved = False


# ---- saving the lesson ----------------------------------------------------------------------------------


def lesson_bar(current: CurrentTrace) -> None:
    """The lesson's title and the button that saves it (again) to the class gallery."""
    draft = draft_for(current)
    label = f"Lesson: {draft.title}" if draft.title else "Save this trace as a lesson for the class"
    with st.expander(label, icon=":material/school:", expanded=not draft.saved):
        if error := st.session_state.pop(ERROR, None):
            st.error(error, icon=":material/error:")
        cols = st.columns([3, 1.3], vertical_alignment="bottom")
        cols[0].text_input("Lesson title", value=draft.title, key=f"lesson_title_{current.key}", max_chars=200)
        cols[1].button(
            "Save the lesson again" if draft.lesson_id else "Save to the class gallery",
            key="lesson_save",
            icon=":material/save:",
            type="primary" if not draft.saved or not draft.lesson_id else "secondary",
            on_click=save_lesson,
            args=(current,),
        )
        notes = f"{len(draft.notes)} note{'s' if len(draft.notes) != 1 else ''}"
        if draft.lesson_id is None:
            st.caption(f"{notes}. Add notes at moments with “Add a note here” beside each moment's heading.")
        else:
            state = "saved" if draft.saved else "changed since it was saved"
            st.caption(f"Lesson `{draft.lesson_id}` ({notes}, {state}); its link: `?{QUERY}={draft.lesson_id}`")


def save_lesson(current: CurrentTrace) -> None:
    draft = draft_for(current)
    title = st.session_state.get(f"lesson_title_{current.key}") or ""
    lesson = Lesson(title, current.trace, dict(draft.notes), draft.created or now_text(), draft.lesson_id)
    try:
        lesson_id = class_gallery().save(lesson)
    except (OSError, ValueError) as exc:
        st.session_state[ERROR] = f"The lesson was not saved: {exc}"
        return
    draft.lesson_id, draft.title, draft.created, draft.saved = lesson_id, title.strip(), lesson.created, True
    st.session_state[OPENED] = (lesson_id, None)
    st.query_params[QUERY] = lesson_id
