"""Compare page: one prompt through two models, moment by moment; and the consistency of sampled reasoning.

The moment being looked at lives in one session key (``compare_moment``), kept by the moment navigator the
Trace page shares; its slider and buttons, a click on either token strip and a click on the KL timeline all
write it, so both sides always show the same moment.
Results live in the session as handles on the process's trace store (``RESULT``, ``CONSISTENCY``), within the
session's memory budget; models are loaded once per process.
"""

from __future__ import annotations

import streamlit as st

from components.compare_charts import divergence_figure, kl_timeline
from components.compare_sides import head_picker, token_list, top_k_texts
from components.plot_config import PLOT_CONFIG
from components.token_strip import StripToken, clickable_strip, unsure_colour
from model_zoo import ModelEntry, default_entry, load_catalog
from model_zoo.kinds import get_kind
from page_glue.models import get_model
from page_glue.navigator import MomentNavigator
from page_glue.session_memory import COMPARISON_CODEC, CONSISTENCY_CODEC, hold
from page_glue.side_panels import moment_side
from tracing.core.trace import DecodingSettings, Trace
from tracing.experiments.compare import compare_traces
from tracing.experiments.comparison import Comparison
from tracing.experiments.consistency import DEFAULT_ANSWER_PATTERN, Consistency, consistency

RESULT = "compare_result"  # Held[Comparison]
CONSISTENCY = "compare_consistency"  # Held[Consistency]
PROMPT = "compare_prompt"
DEFAULT_PROMPT = "What is 47 + 38? Think step by step, then end with 'Answer: N'."


def model_entries() -> list[ModelEntry]:
    try:
        return [e for e in load_catalog() if get_kind(e.kind).generates]
    except (OSError, ValueError) as exc:
        st.error(f"The model catalog could not be read: {exc}")
        return []


def default_pair(entries: list[ModelEntry]) -> tuple[str, str]:
    """The default model and its newest adapter (registered adapters come newest first), else itself twice."""
    base = default_entry(entries).id
    newest = next((e.id for e in entries if e.source == "adapter" and e.base == base), base)
    return base, newest


def model_pickers(entries: list[ModelEntry]) -> tuple[str, str]:
    ids = [e.id for e in entries]
    first, second = default_pair(entries)
    cols = st.columns(2)
    a = cols[0].selectbox("Model a", ids, index=ids.index(first), key="compare_model_a")
    b = cols[1].selectbox("Model b", ids, index=ids.index(second), key="compare_model_b")
    if a == b:
        st.caption(
            "Both sides are the same model, so every KL is 0. Fine-tune an adapter on the Fine-tune page (or pick "
            "another model) to see where two models part."
        )
    return a, b


def navigator(result: Comparison) -> MomentNavigator:
    return MomentNavigator("compare", len(result.moments))


def settings_form() -> tuple[DecodingSettings, str, bool]:
    cols = st.columns([1, 1.3, 1, 1.2])
    max_new = cols[0].number_input("Max new tokens", 1, 256, value=16, step=4, key="compare_max_new")
    mode = cols[1].segmented_control("Decoding", ["Greedy", "Sampling"], default="Greedy", key="compare_mode")
    lead = cols[2].radio(
        "Decodes", ["a", "b"], horizontal=True, key="compare_lead", help="The other side reads its tokens."
    )
    own = cols[3].toggle(
        "Other side decodes too", key="compare_own", help="Also let the other model follow its own path."
    )
    settings = DecodingSettings(max_new_tokens=int(max_new))
    if mode == "Sampling":
        seed = st.number_input("Seed", 0, 2**31 - 1, value=0, key="compare_seed")
        settings = DecodingSettings(
            max_new_tokens=int(max_new), do_sample=True, temperature=0.8, top_p=0.95, seed=int(seed)
        )
    return settings, lead or "a", bool(own)


def run_comparison(a: str, b: str) -> None:
    st.session_state.setdefault(PROMPT, DEFAULT_PROMPT)
    prompt = st.text_area("Prompt", key=PROMPT, height=80)
    settings, lead, own = settings_form()
    if not st.button("Compare", type="primary", icon=":material/compare_arrows:", key="compare_run"):
        return
    loaded_a = get_model(a)
    loaded_b = loaded_a if b == a else get_model(b)
    if loaded_a is None or loaded_b is None:
        return
    try:
        with st.spinner(f"{lead} decodes, the other side reads its tokens…"):
            result = compare_traces(loaded_a, loaded_b, prompt, settings, lead=lead, own_path=own)
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.session_state[RESULT] = hold(result, COMPARISON_CODEC)
    navigator(result).restart()


def side_name(result: Comparison, side: str) -> str:
    trace = result.trace(side)
    role = "decodes" if side == result.lead else f"reads {result.lead}'s tokens"
    return f"{side}: {trace.identity.name} ({role})"


def token_strip(trace: Trace, side: str, moment: int, result: Comparison) -> None:
    boxes = [
        StripToken(
            text=m.token,
            background=unsure_colour(m.prob),
            title=f"moment {m.index}: p = {m.prob:.3f}, KL(a‖b) {result.moments[m.index].kl_a_b:.3f}",
            index=m.index,
        )
        for m in trace.moments
    ]
    clickable_strip(boxes, key=f"compare_tokens_{side}", on_click=navigator(result).set, selected=moment)


def summary(result: Comparison) -> None:
    split = result.first_greedy_divergence
    cols = st.columns(3)
    cols[0].metric("Mean KL(a‖b)", f"{result.kl_a_b.mean():.4f} nats")
    cols[1].metric("Mean KL(b‖a)", f"{result.kl_b_a.mean():.4f} nats")
    cols[2].metric("Greedy picks first part", "never" if split is None else f"moment {split}")
    if result.own_path is not None:
        free = result.first_path_divergence
        st.markdown(
            f"**{result.follower}'s own path:** {result.own_path.text!r} — "
            + ("the same tokens as the lead's." if free is None else f"parts from {result.lead}'s at moment {free}.")
        )


def explorer(result: Comparison) -> None:
    count = len(result.moments)
    summary(result)
    moments = navigator(result)
    moment = moments.draw()
    kl_timeline(result, moment, key="compare_timeline", on_pick=moments.set)
    cols = st.columns(2, gap="medium")
    for column, side in zip(cols, ("a", "b"), strict=True):
        with column:
            st.caption(side_name(result, side))
            token_strip(result.trace(side), side, moment, result)
    d = result.moments[moment]
    texts = top_k_texts(result.trace_a, moment) | top_k_texts(result.trace_b, moment)
    st.markdown(
        f"#### Moment {moment} of {count - 1}: KL(a‖b) {d.kl_a_b:.4f} · KL(b‖a) {d.kl_b_a:.4f} nats · greedy picks "
        + ("differ: " if d.greedy_differs else "agree: ")
        + f"a {token_list([d.greedy_a], texts)}, b {token_list([d.greedy_b], texts)}"
    )
    st.markdown(
        f"Only in a's top {result.top_k}: {token_list(d.only_in_a, texts)}  \n"
        f"Only in b's top {result.top_k}: {token_list(d.only_in_b, texts)}"
    )
    head = head_picker(result.trace_a, "compare_att")
    cols = st.columns(2, gap="medium", border=True)
    for column, side in zip(cols, ("a", "b"), strict=True):
        with column:
            moment_side(result.trace(side), moment, side_name(result, side), head, key=f"compare_side_{side}")


def consistency_section(model_id: str) -> None:
    st.caption(f"Samples several reasoning paths of the prompt with model a (`{model_id}`) and compares the answers.")
    cols = st.columns([1, 1, 1, 1, 2.2])
    n = cols[0].number_input("Paths", 2, 32, value=5, key="consistency_n")
    seed = cols[1].number_input("First seed", 0, 2**31 - 1, value=0, key="consistency_seed")
    temperature = cols[2].number_input("Temperature", 0.05, 3.0, value=0.8, step=0.05, key="consistency_temperature")
    max_new = cols[3].number_input("Max new tokens", 1, 512, value=96, step=16, key="consistency_max_new")
    pattern = cols[4].text_input("Answer pattern (last match)", DEFAULT_ANSWER_PATTERN, key="consistency_pattern")
    if st.button("Sample paths", icon=":material/alt_route:", key="consistency_run"):
        loaded = get_model(model_id)
        if loaded is not None:
            settings = DecodingSettings(
                max_new_tokens=int(max_new), do_sample=True, temperature=float(temperature), seed=int(seed)
            )
            try:
                with st.spinner(f"Sampling {n} paths…"):
                    prompt = st.session_state.get(PROMPT, DEFAULT_PROMPT)
                    paths = consistency(loaded, prompt, int(n), settings, pattern)
                st.session_state[CONSISTENCY] = hold(paths, CONSISTENCY_CODEC)
            except ValueError as exc:
                st.error(str(exc), icon=":material/error:")
    if (held := st.session_state.get(CONSISTENCY)) is not None:
        consistency_view(held.get())


def consistency_view(result: Consistency) -> None:
    cols = st.columns(3)
    cols[0].metric("Majority answer", "none found" if result.majority is None else result.majority)
    cols[1].metric("Agreement", f"{result.agreement:.0%} of {len(result.paths)}")
    d = result.divergence
    cols[2].metric("Paths first part", "never" if d is None else f"moment {d.moment}")
    st.dataframe(
        [
            {"path": i, "seed": seed, "answer": answer or "—", "text": path.text}
            for i, (seed, answer, path) in enumerate(zip(result.seeds, result.answers, result.paths, strict=True))
        ],
        hide_index=True,
    )
    if d is not None:
        st.markdown(f"**At moment {d.moment}** the paths read the same prefix and saw this distribution; red: taken.")
        st.plotly_chart(divergence_figure(d, result.paths[0]), config=PLOT_CONFIG, key="consistency_divergence")


st.header("Compare", anchor=False)
entries = model_entries()
if entries:
    model_a, model_b = model_pickers(entries)
    compare_tab, consistency_tab = st.tabs(["Two models, moment by moment", "Consistency of reasoning"])
    with compare_tab:
        run_comparison(model_a, model_b)
        if (held := st.session_state.get(RESULT)) is not None:
            explorer(held.get())
    with consistency_tab:
        consistency_section(model_a)
