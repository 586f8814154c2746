"""Classify page: an encoder's one moment, the decision of a sequence classifier on a text (and a second
segment), opened panel by panel as the Trace page opens a decoder's moment; a fine-tuned classifier beside
its base."""

from __future__ import annotations

import streamlit as st

from page_glue.classifier_glue import (
    base_key,
    base_of,
    classifier_ids,
    get_classifier,
    is_masked_lm,
    take_pending_open,
)
from page_glue.classifier_panels import (
    ablation_panel,
    attention_panel,
    attribution_panel,
    compare_panel,
    contributions_panel,
    evaluation_panel,
    open_decision,
    probabilities_panel,
)
from page_glue.masked_panel import masked_panel

DEFAULT_TEXT = "The plot was slow at first, but the ending was wonderful and I would happily watch it again."
OTHER = "Other: a classifier folder or hub id…"
MODEL_PARAM = "model"
TABS_KEY = "cls_tabs"

st.header("Classify", anchor=False)
st.caption(
    "A classifier reads the whole text at once and decides: that decision is its one moment. "
    "Pick a classifier (a fine-tune from the Fine-tune page, or any *ForSequenceClassification folder), or a "
    "masked LM (a *ForMaskedLM folder; its moment is the prediction at the one masked token in the text)."
)
choices = classifier_ids()
# A row opened from a labelled file's evaluation (here or on the Evaluate page) is put into the widgets' state
# before they are drawn, and they are then drawn without a default value, so Streamlit has nothing to warn about.
pending = take_pending_open()
asked = pending[0] if pending else st.query_params.get(MODEL_PARAM)
if asked and asked not in choices:
    choices.insert(0, asked)
if pending:
    st.session_state.update({"cls_model": asked, "cls_text": pending[1], "cls_pair": pending[2] or "",
                             TABS_KEY: "Probabilities"})  # fmt: skip
with st.sidebar:
    st.subheader("Classifier", anchor=False)
    index = choices.index(asked) if asked and not pending else 0  # 0: no default for Streamlit to warn about
    picked = st.selectbox("Classifier", [*choices, OTHER], index=index, key="cls_model", label_visibility="collapsed")
    model_id = st.text_input("Folder or hub id", key="cls_other").strip() if picked == OTHER else picked
text = st.text_area("Text", None if pending else DEFAULT_TEXT, key="cls_text", height=90) or ""
pair = (
    st.text_input("Second segment (optional, for pair tasks)", None if pending else "", key="cls_pair") or ""
).strip() or None

loaded = get_classifier(model_id) if model_id and text.strip() else None
if loaded is not None and is_masked_lm(model_id):
    masked_panel(model_id, loaded, text)
elif loaded is not None:
    opened = open_decision(model_id, loaded, text, pair)
    base = base_of(model_id)
    panels = {"Probabilities": probabilities_panel, "Attention": attention_panel, "Attributions": attribution_panel,
              "Contributions": contributions_panel, "Ablation": ablation_panel,
              "Evaluate on a file": lambda opened: evaluation_panel(opened.model_id, opened.loaded, "cls_eval")}  # fmt: skip
    if base:
        key = base_key(base, len(opened.decision.labels))
        panels["Base vs fine-tuned"] = lambda opened: compare_panel(opened, get_classifier(key), key)
    # only the open tab is drawn (a tab switch reruns the page), as on the Trace page
    for tab, panel in zip(st.tabs(list(panels), key=TABS_KEY, on_change="rerun"), panels.values(), strict=True):
        if tab.open:
            with tab:
                panel(opened)
elif not text.strip():
    st.info("Type a text to classify.")
