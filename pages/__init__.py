"""The app's pages; app.py lists them with st.navigation.

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
