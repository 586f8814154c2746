"""Momentscope: watch a language model think, one decoding moment at a time.

Entry point: page config, navigation over the pages that exist, and the shared sidebar.
Run with `make run` (or `streamlit run app.py`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent

# (file, title, icon); only pages whose file exists are shown, the first is the default. No page file is named
# like a package: a page run as its own script has pages/ first on sys.path, where it would shadow it. Each page's
# URL is its file's name: until st.navigation has run once in a process, Streamlit resolves a URL against the
# pages/ folder's file names, so a page served elsewhere answers "Page not found" to a new server's first visitor.
PAGES = [
    ("pages/trace.py", "Trace", ":material/timeline:"),
    ("pages/gallery.py", "Gallery", ":material/school:"),
    ("pages/classify.py", "Classify", ":material/label:"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/evaluate.py", "Evaluate", ":material/fact_check:"),
    ("pages/fine_tune.py", "Fine-tune", ":material/model_training:"),
    ("pages/models.py", "Models", ":material/deployed_code:"),
]

# A local icon file: a material-icon favicon would be fetched from a font CDN.
st.set_page_config(page_title="Momentscope", page_icon=str(HERE / "assets" / "icon.png"), layout="wide")

pages = [
    st.Page(path, title=title, icon=icon, default=index == 0)
    for index, (path, title, icon) in enumerate(p for p in PAGES if (HERE / p[0]).exists())
]
with st.sidebar:
    st.title("Momentscope", anchor=False)
    st.caption("Watch a language model think, one decoding moment at a time.")
st.navigation(pages).run()
