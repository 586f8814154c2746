"""Steering in the branch panel: a vector from two prompt lists, a token or a saved file, added at chosen
layers from the branch moment on; "Continue from here under steering" files the steered path in the branch
tree beside the unsteered one (selected, so the explorer shows both moment by moment), and a strength sweep
draws where the chosen token changes.

Every control is read from the session inside the button callbacks (a value changed in the same interaction
as the click is already there); the callbacks take the trace's handle, never the tree.
"""

from __future__ import annotations

import streamlit as st

from components.plot_config import PLOT_CONFIG
from components.steering_view import sweep_figure
from page_glue.branch_trees import PENDING, keep_tree, tree_for
from page_glue.trace_cache import CurrentTrace
from tracing.core.trace import Trace

KEY = "steer"
SOURCES = {"prompts": "two prompt lists", "token": "a token", "saved": "a saved vector"}
SWEEP = "steer_sweep"  # (trace key, node id, moment, SteeringSweep) of the last sweep
ERROR = "steer_error"


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _numbers(text: str, kind=float) -> list:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def vector_from_controls(model):
    """The steering vector the controls describe (made, or loaded from the data home); saved when asked."""
    from tracing.inspection.steering.make import contrast_vector, token_vector
    from tracing.inspection.steering.vector import load_vector, save_vector

    state = st.session_state
    source, layer = state.get(f"{KEY}_source", "prompts"), int(state.get(f"{KEY}_layer") or 0)
    name = (state.get(f"{KEY}_name") or "steering").strip()
    if source == "saved":
        if not state.get(f"{KEY}_saved"):
            raise ValueError("No saved steering vector is chosen (save one made from prompts or a token first).")
        return load_vector(state[f"{KEY}_saved"])
    if source == "token":
        made = token_vector(model, name, state.get(f"{KEY}_token") or "", layer)
    else:
        positive, negative = _lines(state.get(f"{KEY}_positive")), _lines(state.get(f"{KEY}_negative"))
        made = contrast_vector(model, name, positive, negative, layer, state.get(f"{KEY}_reduce", "last"))
    if state.get(f"{KEY}_save"):
        save_vector(made)
    return made


def steering_from_controls(model):
    from tracing.inspection.steering.apply import Steering

    state = st.session_state
    vector = vector_from_controls(model)
    layers = _numbers(state.get(f"{KEY}_layers") or "", int)
    start = "prompt" if state.get(f"{KEY}_prompt_too") else "moment"
    return Steering(vector, float(state.get(f"{KEY}_strength") or 0.0), tuple(layers), start)


def grow_steered_branch(current: CurrentTrace, loaded, node_id: str, moment: int, picker_key: str) -> None:
    """Button callback: decodes the steered path and files it beside its parent, then selects it."""
    from dataclasses import replace

    from tracing.inspection.steering.continuation import grow_steered

    model = loaded() if callable(loaded) else loaded
    if model is None:
        return
    tree = tree_for(current)
    source = tree.node(node_id).trace
    after = int(st.session_state.get(f"{KEY}_after") or 8)
    try:
        settings = replace(source.settings, max_new_tokens=moment + after)
        node = grow_steered(tree, model, node_id, moment, steering_from_controls(model), settings)
    except ValueError as exc:
        st.session_state[ERROR] = str(exc)
        return
    keep_tree(current.key, tree)
    st.session_state[PENDING] = (picker_key, node.id)


def run_sweep(current: CurrentTrace, loaded, node_id: str, moment: int) -> None:
    """Button callback: the strengths of the sweep box, greedy, in one batch."""
    from tracing.inspection.steering.sweep import steering_sweep

    model = loaded() if callable(loaded) else loaded
    if model is None:
        return
    state = st.session_state
    try:
        strengths = _numbers(state.get(f"{KEY}_strengths") or "")
        steps = int(state.get(f"{KEY}_after") or 8)
        trace = tree_for(current).node(node_id).trace
        sweep = steering_sweep(model, trace, moment, steering_from_controls(model), strengths, steps)
    except ValueError as exc:
        state[ERROR] = str(exc)
        return
    state[SWEEP] = (current.key, node_id, moment, sweep)


def _vector_source(trace: Trace, layers: int | None) -> None:
    from tracing.inspection.steering.vector import saved_names

    source = st.radio("Steering vector from", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                      key=f"{KEY}_source")  # fmt: skip
    if source == "saved":
        st.selectbox("Saved vector", saved_names(model_id=trace.model_id), key=f"{KEY}_saved")
        return
    cols = st.columns([1, 1, 1], vertical_alignment="bottom")
    top = (layers or 1024) - 1
    cols[0].number_input("Read at layer", 0, top, value=min(top, (layers or 2) // 2), key=f"{KEY}_layer")
    cols[1].text_input("Name", value="steering", key=f"{KEY}_name")
    cols[2].checkbox("Save it", key=f"{KEY}_save", help="keep the vector in the data home, to reuse by name")
    if source == "token":
        st.text_input("Token (a leading space counts)", value=" happy", key=f"{KEY}_token")
        return
    sides = st.columns(2)
    sides[0].text_area("Towards (one prompt a line)", "I love this. It is wonderful.", key=f"{KEY}_positive")
    sides[1].text_area("Away from (one prompt a line)", "I hate this. It is awful.", key=f"{KEY}_negative")
    st.radio("Read each prompt at", ["last", "mean"], horizontal=True, key=f"{KEY}_reduce",
             format_func={"last": "its last token", "mean": "the mean of its tokens"}.get)  # fmt: skip


def steering_controls(current: CurrentTrace, trace: Trace, loaded, node_id: str, moment: int, picker_key: str):
    """The steering controls for node ``node_id`` (its trace ``trace``) at ``moment``, and the last sweep."""
    rows = trace.moments[moment].attention
    layers = None if rows is None else int(rows.shape[0])
    _vector_source(trace, layers)
    cols = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
    # the CLI's default too: on the offline model a two-list vector read at layer 15 has a norm of ~40, and
    # 8 times it turned a greeting into a run of newlines where 4 still reads as text
    cols[0].number_input("Strength", value=4.0, step=1.0, key=f"{KEY}_strength")
    cols[1].text_input("Add at layers", key=f"{KEY}_layers", help="comma-separated; empty: the layer it was read at")
    cols[2].number_input("Tokens", 1, 512, value=8, key=f"{KEY}_after")
    cols[3].toggle("Prompt too", key=f"{KEY}_prompt_too", help="steer every position, the prompt's too")
    go = st.columns([2, 2, 1.4], vertical_alignment="bottom")
    go[0].button("Continue from here under steering", icon=":material/explore:", key=f"{KEY}_go",
                 on_click=grow_steered_branch, args=(current, loaded, node_id, moment, picker_key))  # fmt: skip
    go[1].text_input("Sweep strengths", value="-8,-4,-2,2,4,8", key=f"{KEY}_strengths")
    go[2].button("Sweep", icon=":material/grid_on:", key=f"{KEY}_sweep_go", on_click=run_sweep,
                 args=(current, loaded, node_id, moment))  # fmt: skip
    if error := st.session_state.pop(ERROR, None):
        st.error(error, icon=":material/error:")
    kept = st.session_state.get(SWEEP)
    if kept and kept[:3] == (current.key, node_id, moment):
        sweep = kept[3]
        departures = ", ".join(f"{s:+g} → {d if d is not None else '—'}"
                               for s, d in zip(sweep.strengths, sweep.first_departures(), strict=True))  # fmt: skip
        st.caption(f"{sweep.label}; greedy. Orange: the token differs from strength 0's. First departure: {departures}")
        st.plotly_chart(sweep_figure(sweep), config=PLOT_CONFIG, key=f"{KEY}_sweep_chart")
