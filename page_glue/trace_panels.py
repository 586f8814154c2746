"""The trace page's panels for the chosen moment: attention, probabilities, attributions side by side, and
interventions across the page below them (`intervention_panel.py`).

Each panel is a function of (current trace, moment index, the trace's model on demand), registered in
``TRACE_PANELS`` with the rule that says when the trace holds its data; the page shows it under its title.
The panels' own pickers keep their keys across moments, so moving on keeps the same view.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from components.attention import head_grid_figure, head_strip, top_attended
from components.attribution_view import attribution_strip
from components.bertviz_view import DEFAULT_BUDGET, page_height
from components.plot_config import PLOT_CONFIG
from components.probabilities import cut_off_note, logit_lens_figure, top_k_figure
from page_glue.intervention_panel import MISSING as INTERVENTIONS_MISSING
from page_glue.intervention_panel import has_layout, interventions_panel
from page_glue.models import get_model
from page_glue.panels import PanelRegistry, has_attention
from page_glue.trace_cache import CurrentTrace, attribution_for, bertviz_for
from page_glue.tuned_lens_panel import lens_reading
from tracing.core.token_text import is_special_text
from tracing.core.tokens import is_special
from tracing.inspection.attention import SUMMARIES, head_summary, prefix_tokens
from tracing.inspection.attribution import AttributionSettings, get_method, method_names

LENS_TOP_K = 4
# One backward pass and signed scores: quick enough to try on the CPU, and it shows both directions.
DEFAULT_PANEL_METHOD = "input_x_gradient"
STEP_CHOICES = [4, 8, 16, 32, 64]
DEFAULT_STEPS = AttributionSettings().n_steps
ASKED = "trace_attr_asked"  # (trace key, moment, method, contrast) the user asked to attribute
TRACE_PANELS = PanelRegistry()


def trace_model(current: CurrentTrace):
    """The model that made the trace (its adapter when it had one), loaded once per process; None if it
    cannot be loaded here (an error is shown)."""
    return get_model(current.trace.identity.name)


def special_positions(current: CurrentTrace, moment: int, loaded) -> set[int]:
    ids = current.trace.all_ids[: current.trace.prompt_len + moment]
    if loaded is not None:
        return {i for i, token_id in enumerate(ids) if is_special(loaded.tokenizer, token_id)}
    tokens = prefix_tokens(current.trace, moment)
    return {i for i, text in enumerate(tokens) if is_special_text(text)}


@TRACE_PANELS.register(
    "attention", "Attention", available=has_attention, missing="this trace kept no attention weights"
)
def attention_panel(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    trace = current.trace
    row = trace.moments[moment].attention
    layers, heads = row.shape[0], row.shape[1]
    summary_name = st.segmented_control(
        "Grid shows",
        list(SUMMARIES),
        format_func={"generated": "generated", "first": "first token", "entropy": "entropy"}.get,
        default="generated",
        key="trace_att_summary",
    )
    summary = head_summary(row, trace.prompt_len, summary_name or "generated")
    pick = st.columns(2)
    layer = pick[0].number_input("Layer", 0, layers - 1, value=layers - 1, key="trace_att_layer")
    head = pick[1].number_input("Head", 0, heads - 1, value=0, key="trace_att_head")
    st.caption(f"Each cell: one head's {summary.label}.")
    st.plotly_chart(head_grid_figure(summary, layer, head), config=PLOT_CONFIG, key="trace_att_grid")
    tokens = prefix_tokens(trace, moment)
    weights = row[layer, head].astype("float32")
    top = ", ".join(f"`{label}` {w:.2f}" for label, w in top_attended(tokens, weights, 4))
    st.markdown(f"**Layer {layer}, head {head}** looks most at {top}")
    head_strip(tokens, weights, trace.prompt_len, special_positions(current, moment, None))
    if st.toggle("bertviz views of the prefix", key="trace_att_bertviz", help="One forward pass over the prefix."):
        bertviz_section(current, moment, loaded_model, layer)


def bertviz_section(current: CurrentTrace, moment: int, loaded_model: Callable, layer: int) -> None:
    trace = current.trace
    layers = trace.num_layers
    view = st.radio("View", ["head", "model"], horizontal=True, key="trace_att_bv_view", format_func=str.title)
    chosen = st.multiselect(
        "Layers",
        list(range(layers)),
        default=[layer],
        key="trace_att_bv_layers",
        help="Fewer layers keep the view light; long prefixes keep fewer layers to stay under 2 MB.",
    )
    loaded = loaded_model()
    if loaded is None:
        return
    with st.spinner("Computing the attention squares…"):
        page = bertviz_for(current.key, moment, view, tuple(sorted(chosen)), loaded, trace)
    if page.nbytes > DEFAULT_BUDGET:
        st.warning(
            f"The prefix is too long for bertviz here ({page.nbytes / 1e6:.1f} MB for one layer); "
            "use the heat strip above."
        )
        return
    note = f"{page.nbytes / 1e6:.2f} MB, weights to {page.decimals} decimals"
    if page.dropped_layers:
        note += f"; layers {', '.join(map(str, page.dropped_layers))} left out to stay under 2 MB"
    st.caption(note)
    n = trace.prompt_len + moment
    st.iframe(page.html, height=page_height(view, n, len(page.layers)))


@TRACE_PANELS.register("probabilities", "Probabilities")
def probabilities_panel(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    trace = current.trace
    m = trace.moments[moment]
    st.markdown(
        f"**p(chosen)** {m.prob:.1%} &nbsp;·&nbsp; **rank** {m.rank} &nbsp;·&nbsp; **entropy** {m.entropy:.2f} nats"
    )
    st.plotly_chart(top_k_figure(trace, moment), config=PLOT_CONFIG, key="trace_prob_topk")
    st.caption(cut_off_note(m, trace.settings, trace.info.get("vocab_size")))
    if st.toggle("Logit lens", key="trace_lens", help="What each layer would predict; one forward pass per moment."):
        loaded = loaded_model()
        if loaded is None:
            return
        try:
            lens = lens_reading(current.key, moment, LENS_TOP_K, loaded, trace)
        except ValueError as exc:  # a family without a description: its final norm is unknown
            st.info(str(exc), icon=":material/block:")
            return
        first = next((i for i, rank in enumerate(lens.chosen_ranks) if rank == 1), None)
        st.caption(
            f"The chosen token becomes the top guess at {lens.layer_names[first]}."
            if first is not None
            else "No layer had the chosen token on top."
        )
        st.plotly_chart(logit_lens_figure(lens, trace), config=PLOT_CONFIG, key="trace_prob_lens")


@TRACE_PANELS.register("attributions", "Attributions")
def attribution_panel(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    """Attribution of the chosen token over its prefix, computed only for moments the user asks about."""
    trace = current.trace
    m = trace.moments[moment]
    names = method_names()
    method = st.selectbox(
        "Method",
        names,
        index=names.index(DEFAULT_PANEL_METHOD) if DEFAULT_PANEL_METHOD in names else 0,
        format_func=lambda name: get_method(name).label,
        key="trace_attr_method",
    )
    st.caption(get_method(method).description)
    labels = [piece.label for piece in trace.candidate_pieces(moment, [m.token, *m.top_tokens])]
    alternatives = {None: "any other token"} | dict(zip(map(int, m.top_ids), labels[1:], strict=True))
    alternatives.pop(m.token_id, None)
    contrast = st.selectbox(
        f"Why `{labels[0]}` rather than",
        list(alternatives),
        format_func=alternatives.get,
        key=f"trace_attr_contrast_{current.key}_{moment}",
    )
    n_steps = DEFAULT_STEPS
    if get_method(method).has_delta:  # a path integral: more steps, smaller completeness gap, longer wait
        n_steps = st.select_slider(
            "Integration steps",
            STEP_CHOICES,
            value=DEFAULT_STEPS,
            key="trace_attr_steps",
            help="More steps follow the path from the baseline more closely (a smaller completeness gap) and "
            "take proportionally longer: each step is one forward and one backward pass over the prefix.",
        )
    asked: set = st.session_state.setdefault(ASKED, set())
    request = (current.key, moment, method, contrast, n_steps)
    if request not in asked:
        st.button(
            f"Attribute moment {moment}",
            key="trace_attr_go",
            icon=":material/insights:",
            on_click=asked.add,
            args=(request,),
        )
        st.caption("Computed for this moment only when asked, then kept.")
        return
    loaded = loaded_model()
    if loaded is None:
        return
    try:
        with st.spinner(f"{get_method(method).label} for moment {moment}…"):
            result = attribution_for(current.key, moment, method, contrast, n_steps, loaded, trace)
    except ValueError as exc:
        st.warning(str(exc), icon=":material/block:")
        return
    tokens = prefix_tokens(trace, moment)[: len(result.scores)]
    attribution_strip(tokens, result.scores, special_positions(current, moment, loaded), trace.prompt_len)
    note = f"target score {result.target_score:+.3f} · computed in {result.seconds:.1f} s"
    if result.delta is not None:
        note += f" · completeness gap {result.delta:+.3f}"
    st.caption(note)


TRACE_PANELS.register("interventions", "Interventions", available=has_layout, missing=INTERVENTIONS_MISSING, wide=True)(
    interventions_panel
)
