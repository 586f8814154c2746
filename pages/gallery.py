"""Gallery page: the lessons saved to the class gallery, each opened on the Trace page by a click or its link.

A lesson opens with no model run: its trace comes from the data folder (``?trace=<id>`` on the Trace page).
"""

from __future__ import annotations

import streamlit as st

from page_glue.lesson_notes import QUERY
from tracing.lessons.gallery import LessonSummary, class_gallery

TRACE_PAGE = "pages/trace.py"


def app_base() -> str:
    """The app's address in the user's browser without the page's own path (for links to share)."""
    url = st.context.url or ""
    return url.rsplit("/", 1)[0] if url.count("/") > 2 else url.rstrip("/")


def when(stamp: str) -> str:
    """``2025-03-01T09:30:00Z`` as ``2025-03-01 09:30 UTC``."""
    return stamp.replace("T", " ")[:16] + " UTC" if stamp else "?"


def lesson_card(summary: LessonSummary, base: str) -> None:
    with st.container(border=True):
        if summary.problem:
            st.warning(f"Lesson folder `{summary.id}` cannot be listed: {summary.problem}", icon=":material/warning:")
            return
        cols = st.columns([4, 1.2], vertical_alignment="center")
        with cols[0]:
            st.markdown(f"**{summary.title}**")
            notes = f"{summary.notes} note{'s' if summary.notes != 1 else ''}"
            st.caption(
                f"`{summary.model}` · {summary.moments} moments · {notes} · saved {when(summary.updated)}"
                + (f" (first {when(summary.created)})" if summary.created != summary.updated else "")
            )
            st.text(summary.prompt if len(summary.prompt) <= 300 else summary.prompt[:300] + "…")
        with cols[1]:
            st.page_link(TRACE_PAGE, label="Open", icon=":material/open_in_new:", query_params={QUERY: summary.id})
            st.code(f"{base}/?{QUERY}={summary.id}", language=None, wrap_lines=True)


st.header("Class gallery", anchor=False)
gallery = class_gallery()
st.caption(
    "Lessons a teacher saved from the Trace page: a trace with notes pinned to its moments. Opening one needs no "
    f"model run; share its link with the class. They live in `{gallery.folder}`."
)
summaries = gallery.summaries()
if not summaries:
    st.info(
        "No lessons yet. On the Trace page, run or open a trace, add notes beside the moments' headings and save it "
        "with “Save to the class gallery”.",
        icon=":material/school:",
    )
base = app_base()
for summary in summaries:
    lesson_card(summary, base)
