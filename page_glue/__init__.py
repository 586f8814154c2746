"""Page glue: what the page scripts in pages/ share. Like the pages it connects widgets and session state to
the engine and the engine's results to components/; the engine (tracing/, finetune/, model_zoo/) never
imports it.

The model cache and sidebar picker (`models`), a trace decoding in the background (`trace_run`), the
cached views of the trace being looked at (`trace_cache`), the panels a page shows for its moment and the
rule that says when each has data (`panels`, `trace_panels`, `side_panels`, `branch_panel`), the
moment navigator that Trace and Compare share (`navigator`), the handles through which sessions keep traces
in the process's trace store under a memory budget (`session_memory`), and lessons on the Trace page
(`lesson_notes`).

Streamlit treats a folder named ``pages/`` beside the main script as an old-style multipage app until the
main script first calls ``st.navigation``. On a fresh server, a browser opening a page URL directly (a
bookmark, a reload after a restart) would run that page alone, without app.py's sidebar and navigation.
Every page imports this package first, so the first such run switches to app.py's navigation and reruns.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    st.rerun()
