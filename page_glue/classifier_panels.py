"""The Classify page's panels for one decision, in the Trace page's style: class probabilities, attention
(head grid, one head's strip, bertviz's head and model views), attributions, contributions, ablation, and a
base against its fine-tune. Each panel takes an `Opened` (the model, its id, the text and its decision)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from components.attention import head_grid_figure, head_strip, top_attended
from components.attribution_view import attribution_strip
from components.bertviz_neuron import neuron_height, neuron_page
from components.bertviz_view import DEFAULT_BUDGET, bertviz_page, page_height
from components.classifier_view import class_bars, confusion_figure, paired_bars
from components.interventions import component_grid_figure
from components.plot_config import PLOT_CONFIG
from page_glue.classifier_glue import (
    CLASSIFY_PAGE,
    DEFAULT_IG_STEPS,
    IG_STEPS,
    ablation_for,
    ask_to_open,
    attribution_for,
    contributions_for,
    decision_for,
    evaluation_for,
    moved_heads,
    neuron_for,
)
from tracing.encoders.results import ENCODER_METHOD_NAMES, Decision
from tracing.inspection.attention import head_summary
from tracing.inspection.attribution import get_method

FIRST_TOKEN_SUMMARIES = {"first": "share on [CLS]", "entropy": "entropy"}


@dataclass
class Opened:
    model_id: str
    loaded: object
    text: str
    pair: str | None
    decision: Decision

    @property
    def specials(self) -> set[int]:
        special_ids = set(self.loaded.tokenizer.all_special_ids)
        return {i for i, token in enumerate(self.decision.ids) if int(token) in special_ids}


def open_decision(model_id: str, loaded, text: str, pair: str | None) -> Opened:
    return Opened(model_id, loaded, text, pair, decision_for(model_id, loaded, text, pair))


def class_picker(opened: Opened, key: str) -> tuple[int, int | None]:
    """The class explained (default: the predicted one) and an optional class it is set against (default: the
    runner-up, since a confident classifier's log p is flat near 0 and its gradients vanish)."""
    labels = opened.decision.labels
    left, right = st.columns(2)
    label = left.selectbox("Class explained", range(len(labels)), index=opened.decision.predicted,
                           format_func=labels.__getitem__, key=f"{key}_label")  # fmt: skip
    others = [None, *[i for i in range(len(labels)) if i != label]]
    runner_up = int(np.argsort(opened.decision.logits)[-2]) if len(labels) > 1 else None
    contrast = right.selectbox("Rather than", others, index=others.index(runner_up) if runner_up in others else 0,
                               format_func=lambda i: "— (log p of the class)" if i is None
                               else labels[i], key=f"{key}_contrast")  # fmt: skip
    return label, contrast


def probabilities_panel(opened: Opened) -> None:
    decision = opened.decision
    st.markdown(f"**Decision:** `{decision.labels[decision.predicted]}` at {decision.probs.max():.1%}")
    st.plotly_chart(class_bars(decision), config=PLOT_CONFIG, key="cls_probs")


def attention_panel(opened: Opened) -> None:
    decision = opened.decision
    layers, heads, n, _ = decision.attention.shape
    name = st.segmented_control("Grid shows", list(FIRST_TOKEN_SUMMARIES), default="first",
                                format_func=FIRST_TOKEN_SUMMARIES.get, key="cls_att_summary")  # fmt: skip
    first_rows = decision.attention[:, :, 0, :]  # what the first token, which the head reads, attends to
    summary = head_summary(first_rows, n, name or "first")
    pick = st.columns(2)
    layer = pick[0].number_input("Layer", 0, layers - 1, value=layers - 1, key="cls_att_layer")
    head = pick[1].number_input("Head", 0, heads - 1, value=0, key="cls_att_head")
    st.caption(f"Each cell: one head's {summary.label}, from the first token's row (the one the classifier reads).")
    st.plotly_chart(head_grid_figure(summary, layer, head), config=PLOT_CONFIG, key="cls_att_grid")
    weights = first_rows[layer, head].astype(np.float32)
    top = ", ".join(f"`{label}` {w:.2f}" for label, w in top_attended(decision.tokens, weights, 4))
    st.markdown(f"**Layer {layer}, head {head}** from the first token looks most at {top}")
    head_strip(decision.tokens, weights, n, opened.specials)
    if st.toggle("bertviz views", key="cls_att_bertviz"):
        view = st.radio("View", ["head", "model", "neuron"], horizontal=True, key="cls_att_bv_view",
                        format_func=str.title)  # fmt: skip
        if view == "neuron":
            vectors = neuron_for(opened.model_id, opened.loaded, opened.text, opened.pair)
            html = neuron_page(decision.attention, vectors.queries, vectors.keys, decision.tokens, layer, head)
            st.caption("Queries and keys of each head, as bertviz's BERT example computes them.")
            st.iframe(html, height=neuron_height(n))
            return
        page = bertviz_page(view, decision.attention.astype(np.float32), decision.tokens, [layer])
        if page.nbytes > DEFAULT_BUDGET:
            st.warning(f"The text is too long for bertviz here ({page.nbytes / 1e6:.1f} MB); use the strip above.")
            return
        st.iframe(page.html, height=page_height(view, n, len(page.layers)))


def attribution_panel(opened: Opened) -> None:
    label, contrast = class_picker(opened, "cls_attr")
    method = st.selectbox(
        "Method", ENCODER_METHOD_NAMES, format_func=lambda m: get_method(m).label, key="cls_attr_method"
    )
    st.caption(get_method(method).description)
    steps = DEFAULT_IG_STEPS
    if get_method(method).has_delta:
        steps = st.select_slider("Steps", IG_STEPS, value=DEFAULT_IG_STEPS, key="cls_attr_steps",
                                 help="More steps close the completeness gap; each costs a forward and backward pass.")  # fmt: skip
    with st.spinner("Attributing…"):
        result = attribution_for(
            opened.model_id, opened.loaded, opened.text, opened.pair, label, method, contrast, steps
        )
    labels = opened.decision.labels
    what = f"log p({labels[label]})" if contrast is None else f"logit({labels[label]}) − logit({labels[contrast]})"
    gap = "" if result.delta is None else f" · completeness gap {result.delta:+.2e}"
    st.markdown(f"**Explained:** {what} = {result.target_score:+.4f}{gap} · {result.seconds:.2f} s")
    attribution_strip(opened.decision.tokens, result.scores, opened.specials, len(result.scores))


def contributions_panel(opened: Opened) -> None:
    label, contrast = class_picker(opened, "cls_contrib")
    with st.spinner("Decomposing…"):
        result = contributions_for(opened.model_id, opened.loaded, opened.text, opened.pair, label, contrast)
    st.caption(result.note)
    st.markdown(
        f"**Model** {result.logit:+.4f} · **sum of parts** {result.total:+.4f} · embeddings {result.embeddings:+.3f}"
        f" · heads {float(result.heads.sum()):+.3f} · MLPs {float(result.mlps.sum()):+.3f} · LayerNorm biases "
        f"{result.norm_bias:+.3f} · head at zero {result.head_at_zero:+.3f}"
    )
    st.plotly_chart(component_grid_figure(result.heads, result.mlps, "contribution"), config=PLOT_CONFIG,
                    key="cls_contrib_grid")  # fmt: skip
    st.caption("Per layer: " + " · ".join(f"{i}: {v:+.3f}" for i, v in enumerate(result.layers)))


def ablation_panel(opened: Opened) -> None:
    layers, heads = opened.decision.attention.shape[:2]
    pick = st.columns(2)
    layer = pick[0].number_input("Layer", 0, layers - 1, value=layers - 1, key="cls_abl_layer")
    head = pick[1].selectbox("Head", [None, *range(heads)], key="cls_abl_head",
                             format_func=lambda h: "the whole layer's attention" if h is None else f"head {h}")  # fmt: skip
    result = ablation_for(opened.model_id, opened.loaded, opened.text, opened.pair, layer, head)
    st.plotly_chart(paired_bars(opened.decision.labels, result.clean_probs, result.probs, ("clean", "ablated")),
                    config=PLOT_CONFIG, key="cls_abl_bars")  # fmt: skip


def compare_panel(opened: Opened, base_loaded, base_key: str) -> None:
    """The base and its fine-tune on the same text: probabilities, attributions, head grids, heads that moved."""
    if base_loaded is None:
        return
    base = open_decision(base_key, base_loaded, opened.text, opened.pair)
    tuned, before = opened.decision, base.decision
    st.caption(f"Base `{base_key.partition(' ')[0]}` (its classifier head untrained) against `{opened.model_id}`.")
    st.plotly_chart(paired_bars(tuned.labels, before.probs, tuned.probs, ("base", "fine-tuned")), config=PLOT_CONFIG,
                    key="cls_cmp_probs")  # fmt: skip
    moved = moved_heads(before, tuned)
    st.markdown("**Heads that moved most:** " + ", ".join(f"{layer}.{head} ({d:.3f})" for layer, head, d in moved))
    st.caption("Mean total-variation distance between a head's attention rows, base against fine-tuned.")
    method = st.selectbox("Attribution", ENCODER_METHOD_NAMES, format_func=lambda m: get_method(m).label,
                          key="cls_cmp_method")  # fmt: skip
    label, contrast = class_picker(opened, "cls_cmp")
    for column, side in zip(st.columns(2), (base, opened), strict=True):
        with column:
            st.markdown(f"**{'base' if side is base else opened.model_id}**")
            summary = head_summary(side.decision.attention[:, :, 0, :], len(side.decision.tokens), "first")
            st.plotly_chart(
                head_grid_figure(summary, *moved[0][:2]), config=PLOT_CONFIG, key=f"cls_cmp_grid_{side is base}"
            )
            result = attribution_for(side.model_id, side.loaded, side.text, side.pair, label, method, contrast)
            attribution_strip(side.decision.tokens, result.scores, side.specials, len(result.scores))


def evaluation_panel(model_id: str, loaded, key: str, leave: bool = False) -> None:
    """A labelled file through the classifier: accuracy, confusion, per class, the wrong ones, each opened on the
    Classify page (from another page, ``leave``, by switching to it). ``key`` prefixes the widgets' keys."""
    upload = st.file_uploader("Labelled file (CSV, JSONL or JSON: a text and a label column, a pair column optional)",
                              type=["csv", "jsonl", "json"], key=f"{key}_file")  # fmt: skip
    if upload is None:
        return
    try:
        result = evaluation_for(model_id, loaded, upload.getvalue(), upload.name)
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    low, high = result.interval
    st.markdown(f"**Accuracy** {result.accuracy:.1%} (95% interval {low:.1%}–{high:.1%}) on {len(result.gold)} rows")
    for problem in result.problems[:5]:
        st.caption(f"line {problem.line}: {problem.message}")
    left, right = st.columns(2)
    left.plotly_chart(confusion_figure(result.confusion, result.labels), config=PLOT_CONFIG, key=f"{key}_cm")
    right.dataframe(result.per_class(), hide_index=True)
    st.markdown(f"**Wrong:** {len(result.wrong)}, the most confident first")
    for row in result.wrong[:10]:
        said = result.labels[int(result.predicted[row])]
        line = f"line {result.lines[row]}: said `{said}` ({result.probs[row].max():.0%}), gold `{result.labels[result.gold[row]]}`"
        text_column, button = st.columns([5, 1])
        text_column.markdown(f"{line} — {result.texts[row][:140]}")
        where = (model_id, result.texts[row], result.pairs[row])
        if button.button("Open", key=f"{key}_open_{row}", on_click=ask_to_open, args=where) and leave:
            st.switch_page(CLASSIFY_PAGE)
