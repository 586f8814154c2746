"""The trace page's interventions panel: contributions, ablation (and knockout, and continuing under one),
activation patching and commitment, one tab each, each computed only when asked (then cached).

Available for traces of decoders with a family description (`model_zoo.families`); a trace saved
before its architecture was recorded is checked when its model is loaded. "Continue from here" files its
branch in the trace's branch tree (the branch panel below shows it, selected).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import streamlit as st

from components.interventions import commitment_figure, component_grid_figure, patching_figure
from components.plot_config import PLOT_CONFIG
from components.probabilities import probability_bars
from components.timeline import selected_moment
from model_zoo.families import has_known_layout
from page_glue import intervention_cache as cache
from page_glue.branch_panel import PENDING, keep_tree, tree_for
from page_glue.navigator import MomentNavigator
from page_glue.trace_cache import CurrentTrace
from page_glue.tuned_lens_panel import commitment_reading
from tracing.core.trace import Trace
from tracing.inspection.interventions import Ablation, Knockout, grow_under

ASKED = "interventions_asked"  # requests the user asked for: (view, trace key, moment, settings...)
NAVIGATOR_KEY = "trace"  # the trace page's moment navigator
TAB_KEY = "iv_tab"  # the open tab's label
MISSING = "its model's family has no description here (where its heads, norms and MLPs live)"


def has_layout(trace: Trace, moment: int) -> bool:
    """A decoder trace whose architecture has a layout (or that does not say: checked once loaded)."""
    architecture = trace.info.get("architecture")
    return moment < len(trace.moments) and (architecture is None or has_known_layout(architecture))


def _asked(request: tuple, label: str, key: str) -> bool:
    """Whether ``request`` was asked for; else draws its button (a click asks for it)."""
    asked: set = st.session_state.setdefault(ASKED, set())
    if request in asked:
        return True
    st.button(label, key=key, icon=":material/science:", on_click=asked.add, args=(request,))
    return False


def _model(loaded_model: Callable):
    loaded = loaded_model()
    if loaded is not None and loaded.layout is None:
        st.info(loaded.layout_problem, icon=":material/block:")
        return None
    return loaded


def _bar(label: str):
    bar = st.progress(0.0, label)
    return bar, lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), message)


def interventions_panel(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    """The four views as tabs; only the open one is drawn (a tab switch reruns the explorer), so a moment
    switch does not make the browser lay out three hidden tabs' widgets and charts."""
    views = {"Contributions": contributions_tab, "Ablation": ablation_tab, "Patching": patching_tab,
             "Commitment": commitment_tab}  # fmt: skip
    for tab, view in zip(st.tabs(list(views), key=TAB_KEY, on_change="rerun"), views.values(), strict=True):
        if tab.open:
            with tab:
                view(current, moment, loaded_model)


def contributions_tab(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    trace = current.trace
    m = trace.moments[moment]
    labels = [piece.label for piece in trace.candidate_pieces(moment, [m.token, *m.top_tokens])]
    choices = {None: "nothing (the logit itself)"} | dict(zip(map(int, m.top_ids), labels[1:], strict=True))
    choices.pop(m.token_id, None)
    contrast = st.selectbox(f"Logit of `{labels[0]}` minus", list(choices), format_func=choices.get,
                            key=f"iv_contrast_{current.key}_{moment}")  # fmt: skip
    if not _asked(("contributions", current.key, moment, contrast), f"Decompose moment {moment}", "iv_contrib_go"):
        st.caption("Each head's and MLP's direct write into the logit, through the final norm frozen at its scale.")
        return
    if (loaded := _model(loaded_model)) is None:
        return
    with st.spinner("Decomposing the residual stream…"):
        result = cache.contributions_for(current.key, moment, contrast, loaded, trace)
    st.markdown(
        f"**model** {result.logit:+.3f} = **sum of parts** {result.total:+.3f} · embeddings "
        f"{result.embeddings:+.3f} · heads {float(result.heads.sum()):+.3f} · MLPs {float(result.mlps.sum()):+.3f}"
    )
    st.plotly_chart(
        component_grid_figure(result.heads, result.mlps, "logit"), config=PLOT_CONFIG, key="iv_contrib_grid"
    )
    if note := loaded.layout.decomposition_note:
        st.caption(note)
    st.caption("Largest: " + ", ".join(f"{name} {value:+.2f}" for name, value in result.ranked(6)))


def ablation_tab(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    trace = current.trace
    cols = st.columns(2)
    method = cols[0].segmented_control("Ablation", ["zero", "mean"], default="zero", key="iv_method") or "zero"
    scope = cols[1].segmented_control("Where", ["moment", "all"], default="moment", key="iv_scope",
                                      format_func={"moment": "the moment's position", "all": "every position"}.get)  # fmt: skip
    scope = scope or "moment"
    asked = _asked(("sweep", current.key, moment, method, scope), "Ablate every head and MLP", "iv_sweep_go")
    if asked and (loaded := _model(loaded_model)) is not None:
        bar, progress = _bar("Ablating…")
        sweep = cache.sweep_for(current.key, moment, method, scope, loaded, trace, progress)
        bar.empty()
        st.caption(f"Change in log p(`{trace.moment_piece(moment).label}`) with each one removed alone "
                   f"({sweep.seconds:.1f} s).")  # fmt: skip
        figure = component_grid_figure(sweep.head_deltas, sweep.mlp_deltas, "Δ log p")
        st.plotly_chart(figure, config=PLOT_CONFIG, key="iv_sweep_grid")
    st.markdown("**One intervention**")
    intervention = intervention_picker(trace, moment, method, scope)
    if intervention is None:
        return
    spec = json.dumps(intervention.to_dict())
    if not _asked(("one", current.key, moment, spec), "Apply", "iv_one_go"):
        return
    if (loaded := _model(loaded_model)) is None:
        return
    try:
        with st.spinner(f"{intervention.label}…"):
            result = cache.intervention_for(current.key, moment, spec, loaded, trace)
    except ValueError as exc:
        st.warning(str(exc), icon=":material/block:")
        return
    token = trace.moment_piece(moment).label
    st.markdown(f"**{result.label}**: log p(`{token}`) {result.clean_log_prob:+.3f} → {result.log_prob:+.3f} "
                f"(**Δ {result.delta:+.3f}**), rank {result.clean_rank} → **{result.rank}**")  # fmt: skip
    pieces = trace.candidate_pieces(moment, result.top_tokens)
    bars = [f"{i + 1}. {p.label}" for i, p in enumerate(pieces)]
    colours = ["#ff4b4b" if int(i) == result.target_id else "#4c78a8" for i in result.top_ids]
    probs = [float(p) for p in result.top_probs]
    st.plotly_chart(probability_bars(bars, probs, colours, [f"{p:.1%}" for p in probs]), config=PLOT_CONFIG,
                    key="iv_one_top")  # fmt: skip
    continue_controls(current, moment, loaded, intervention)


def intervention_picker(trace: Trace, moment: int, method: str, scope: str):
    kinds = {"head": "a head", "attention": "a layer's attention", "mlp": "an MLP", "knockout": "attention knockout"}
    kind = st.segmented_control("Remove", list(kinds), format_func=kinds.get, default="head", key="iv_kind")
    layers = trace.num_layers or 1
    if kind == "knockout":
        labels = [piece.label for piece in trace.token_pieces()[: trace.prompt_len + moment]]
        keys = st.multiselect("The moment may not attend to", list(range(len(labels))),
                              format_func=lambda p: f"{p} {labels[p]}", key=f"iv_keys_{moment}")  # fmt: skip
        chosen = st.multiselect("In layers (none picked: every layer)", list(range(layers)), key="iv_ko_layers")
        return Knockout(tuple(keys), tuple(chosen) or None) if keys else None
    cols = st.columns(2)
    layer = int(cols[0].number_input("Layer", 0, layers - 1, value=layers - 1, key="iv_layer"))
    if kind == "head":
        head = int(cols[1].number_input("Head", 0, (trace.num_heads or 1) - 1, value=0, key="iv_head"))
        return Ablation("head", layer, head, method, scope)
    return Ablation(kind or "head", layer, None, method, scope) if kind else None


def _grow(current: CurrentTrace, loaded, moment: int, intervention, after: int) -> None:
    tree = tree_for(current)
    settings = replace(current.trace.settings, max_new_tokens=moment + after)
    try:
        node = grow_under(tree, loaded, "root", moment, intervention, settings)
    except ValueError as exc:
        st.session_state["iv_error"] = str(exc)
        return
    keep_tree(current.key, tree)
    st.session_state[PENDING] = (f"branch_{current.key}_node", node.id)  # the branch panel's picker
    st.session_state["iv_grown"] = node.label


def continue_controls(current: CurrentTrace, moment: int, loaded, intervention) -> None:
    cols = st.columns([1, 2], vertical_alignment="bottom")
    after = int(
        cols[0].number_input("Tokens", 1, 512, value=max(len(current.trace.moments) - moment, 8), key="iv_after")
    )
    clicked = cols[1].button("Continue from here under it", icon=":material/call_split:", key="iv_continue")
    if clicked:
        with st.spinner("Decoding on under the intervention…"):
            _grow(current, loaded, moment, intervention, after)
        st.rerun(scope="app")  # the branch panel below shows the new branch
    if error := st.session_state.pop("iv_error", None):
        st.error(error, icon=":material/error:")
    if grown := st.session_state.pop("iv_grown", None):
        st.success(f"Added to the branch tree below: {grown}.", icon=":material/call_split:")


def patching_tab(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    trace = current.trace
    corrupted = st.text_area("Edited prompt (as many tokens as the original; change a word or a name)",
                             value=trace.prompt, key=f"iv_corrupt_{current.key}")  # fmt: skip
    every = st.toggle("Every position from the first edit (slower: a patch at position p recomputes everything "
                      "after p)", key="iv_every")  # fmt: skip
    request = ("patch", current.key, moment, corrupted, every)
    if not _asked(request, f"Patch moment {moment}", "iv_patch_go"):
        st.caption("The clean run's residual stream written into the edited run, one (layer, position) at a time.")
        return
    if (loaded := _model(loaded_model)) is None:
        return
    bar, progress = _bar("Patching…")
    try:
        result = cache.patching_for(current.key, moment, corrupted, every, loaded, trace, progress)
    except ValueError as exc:
        st.warning(str(exc), icon=":material/block:")
        return
    finally:
        bar.empty()
    st.caption(f"log p(`{trace.moment_piece(moment).label}`): clean {result.clean_metric:+.3f}, edited "
               f"{result.corrupted_metric:+.3f}; each cell: the share of that difference one patch restores "
               f"({result.seconds:.1f} s).")  # fmt: skip
    st.plotly_chart(patching_figure(result), config=PLOT_CONFIG, key="iv_patch_map")


def commitment_tab(current: CurrentTrace, moment: int, loaded_model: Callable) -> None:
    trace = current.trace
    if not _asked(("commitment", current.key), "Read every moment", "iv_commit_go"):
        st.caption("One teacher-forced pass: the logit-lens rank of every moment's token at every layer.")
        return
    if (loaded := _model(loaded_model)) is None:
        return
    bar, progress = _bar("Reading every layer…")
    result = commitment_reading(current.key, loaded, trace, progress)
    bar.empty()
    navigator = MomentNavigator(NAVIGATOR_KEY, len(trace.moments))

    def picked() -> None:
        chosen = selected_moment(st.session_state.get("iv_commit_map"))
        if chosen is not None:
            navigator.set(chosen)
            st.session_state["iv_commit_moved"] = True

    st.caption("× marks the layer from which each token stays the top guess; click a row to look at its moment.")
    st.plotly_chart(commitment_figure(result, trace, moment), config=PLOT_CONFIG, key="iv_commit_map",
                    on_select=picked, selection_mode="points")  # fmt: skip
    if st.session_state.pop("iv_commit_moved", False):
        st.rerun(scope="app")  # the whole explorer moves to the clicked moment
