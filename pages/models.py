"""Models page: the zoo, the model in use, and a quick generation to check that it works."""

from __future__ import annotations

import streamlit as st

from components.model_card import catalog_table, model_facts
from model_zoo import load_catalog
from model_zoo.paths import HOME_ENV, data_home
from page_glue.models import get_model, model_picker

st.header("Models", anchor=False)
model_id = model_picker(kind=None)

st.subheader("Catalog", anchor=False)
catalog_table(load_catalog())
st.caption(
    f"Any other Hugging Face hub id or local folder works too (type it in the sidebar). Converted models, "
    f"adapters and jobs live in `{data_home()}` (set `{HOME_ENV}` to move it)."
)

if model_id:
    loaded = get_model(model_id)
    if loaded is not None:
        st.subheader(f"In use: {loaded.id}", anchor=False)
        model_facts(loaded)
