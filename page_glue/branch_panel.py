"""The branch panel the trace page shows for its chosen moment: pick another token (from the moment's top-k,
or typed), decode on from there, and walk the tree of branches.

The panel takes the trace page's moment as its own, so a branch and the trace it came from are looked at
through one moment selector. The session's trees are kept by `branch_trees`; a toggle swaps the token
controls for steering's (`steering_panel`).
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from components.branch_view import branch_strip, node_label
from components.compare_sides import head_picker
from page_glue.branch_trees import PENDING, keep_tree, tree_for
from page_glue.side_panels import moment_side
from page_glue.steering_panel import steering_controls
from page_glue.trace_cache import CurrentTrace
from tracing.core.trace import Trace
from tracing.experiments.branch import grow_branch, token_ids_for
from tracing.experiments.branch_tree import INTERVENTION_KEY, BranchTree, first_departure, forced_moments

ERROR = "branch_error"
OPEN_KEY = "branch_open"  # whether the branch expander is open
TYPED = -1  # the "type a token" choice


def grow(current: CurrentTrace, loaded, node_id: str, moment: int, key: str, picker_key: str) -> None:
    """Button callback: makes the branch before the rerun, then selects it. Reads the controls' values
    from the session (a value changed in the same interaction as the click is already there); takes the
    trace's handle, not the tree, so the callback kept until the next run holds no traces."""
    choice = st.session_state.get(f"{key}_choice")
    typed = st.session_state.get(f"{key}_typed") or ""
    after = int(st.session_state.get(f"{key}_after") or 1)
    model = loaded() if callable(loaded) else loaded
    if model is None:
        return
    tree = tree_for(current)
    source = tree.node(node_id).trace
    try:
        ids = token_ids_for(model.tokenizer, typed) if choice == TYPED else [choice]
        settings = replace(source.settings, max_new_tokens=moment + len(ids) + after)
        node = grow_branch(tree, model, node_id, moment, ids, settings)
    except ValueError as exc:
        st.session_state[ERROR] = str(exc)
        return
    keep_tree(current.key, tree)
    st.session_state[PENDING] = (picker_key, node.id)


def node_picker(tree: BranchTree, key: str) -> str:
    pending = st.session_state.pop(PENDING, None)
    if pending and pending[0] == key:
        st.session_state[key] = pending[1]
    labels = {node.id: node_label(depth, node) for depth, node in tree.walk()}
    if st.session_state.get(key) not in labels:
        st.session_state[key] = "root"
    return st.selectbox("Branches", list(labels), format_func=labels.get, key=key)


def branch_controls(current: CurrentTrace, tree: BranchTree, loaded, node_id: str, moment: int, tree_key: str) -> None:
    key = f"{tree_key}_{node_id}_{moment}"  # the choices differ per branch and moment
    source = tree.node(node_id).trace
    m = source.moments[moment]
    labels = [piece.label for piece in source.candidate_pieces(moment, [m.token, *m.top_tokens])]
    choices = {
        int(i): f"{label}  (p = {p:.3f})" for i, label, p in zip(m.top_ids, labels[1:], m.top_probs, strict=True)
    }
    choices.pop(m.token_id, None)
    choices[TYPED] = "type a token…"
    cols = st.columns([2, 1.4, 1, 1], vertical_alignment="bottom")
    choice = cols[0].selectbox(
        f"Instead of `{labels[0]}` at moment {moment}, force",
        list(choices),
        format_func=choices.get,
        key=f"{key}_choice",
    )
    if choice == TYPED:
        cols[1].text_input(
            "Token text", key=f"{key}_typed", help="A leading space counts; several tokens are forced in order."
        )
    cols[2].number_input("Tokens after it", 1, 512, value=max(len(source.moments) - moment - 1, 8), key=f"{key}_after")
    cols[3].button(
        "Branch here",
        icon=":material/call_split:",
        key=f"{key}_go",
        on_click=grow,
        args=(current, loaded, node_id, moment, key, f"{tree_key}_node"),
    )


def branch_panel(loaded, current: CurrentTrace, moment_index: int) -> None:
    """The branch UI for the current trace at its moment ``moment_index``.

    ``loaded`` is the trace's LoadedModel, or a function returning it (or None), called only when a branch
    is made, so looking costs no model load.
    """
    tree = tree_for(current)
    key = f"branch_{current.key}"
    # drawn only while open (opening it reruns the explorer): collapsed, it costs the browser nothing
    expander = st.expander("What if… branch at this moment", expanded=len(tree.nodes) > 1,
                           icon=":material/call_split:", key=OPEN_KEY, on_change="rerun")  # fmt: skip
    if not expander.open:
        return
    with expander:
        if error := st.session_state.pop(ERROR, None):
            st.error(error, icon=":material/error:")
        node = tree.node(node_picker(tree, f"{key}_node"))
        if moment_index >= len(node.trace.moments):
            st.info(f"This branch has {len(node.trace.moments)} moments; pick an earlier moment to branch it.")
            return
        if st.toggle("Steer instead of forcing a token", key=f"{key}_steer"):
            steering_controls(current, node.trace, loaded, node.id, moment_index, f"{key}_node")
        else:
            branch_controls(current, tree, loaded, node.id, moment_index, key)
        if node.parent is not None:
            branch_view(tree.node(node.parent).trace, node.trace, node.moment, moment_index)


def branch_view(parent: Trace, child: Trace, branch_moment: int, moment: int) -> None:
    """The branch and the trace it came from, each at the shared moment."""
    st.markdown(f"**Parent:** {parent.text!r}")
    branch_strip(child, moment, shared_until=branch_moment)
    if marks := child.info.get(INTERVENTION_KEY):
        departure = first_departure(parent, child)
        where = "never departs from its parent" if departure is None else f"first departs at moment {departure}"
        st.caption(f"{marks['label']}: this path {where}; each side below shows its own probabilities.")
    forced = moment in forced_moments(child)
    head = head_picker(child, "branch_att")
    cols = st.columns(2, gap="medium", border=True)
    with cols[0]:
        moment_side(parent, moment, "parent", head, key="branch_side_parent")
    with cols[1]:
        moment_side(child, moment, "branch", head, key="branch_side_child", note="forced" if forced else "")
