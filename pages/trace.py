"""Trace page: run a prompt, watch it grow, then explore it one moment at a time; or open a lesson from the
class gallery (``?trace=<id>``) with its notes at their moments, and pin notes to save one; open a fine-tune
probe's trace at a checkpoint (``?probe=<job>:<step>:<probe>``); or open an evaluated question
(``?evaluation=<job>&model=<n>&question=<i>``) at the moment it left its reference.

The moment being looked at lives in one session key (``trace_moment``), kept by the moment navigator the
Compare page shares; its slider and buttons, a click on a generated token and a click on the timeline all
write that key, so they agree.
"""

from __future__ import annotations

import streamlit as st

from components.timeline import timeline
from components.token_strip import StripToken, clickable_strip, static_strip, unsure_colour
from page_glue.branch_panel import branch_panel
from page_glue.evaluation_link import leave_evaluation_link, linked_evaluation
from page_glue.lesson_notes import (
    draft_for,
    follow_note_head,
    leave_link,
    lesson_bar,
    linked_lesson,
    note_box,
    noted_moments,
)
from page_glue.models import get_model, model_picker
from page_glue.navigator import MomentNavigator
from page_glue.panels import draw_in_columns
from page_glue.probe_link import linked_probe
from page_glue.session_memory import settings_problem
from page_glue.trace_cache import CurrentTrace, trace_file_bytes, trace_from_bytes, trace_html
from page_glue.trace_panels import TRACE_PANELS, trace_model
from page_glue.trace_run import TraceRun, start_run
from tracing.core.trace import DecodingSettings, Moment
from tracing.lessons.lesson import Note

CURRENT = "trace_current"  # CurrentTrace
RUN = "trace_run"  # TraceRun in progress
PROMPT = "trace_prompt"
# How often the growing generation is redrawn. Each redraw costs the browser about 0.08 s of CPU (Streamlit's
# frontend re-renders and re-lays out the page); at 0.3 s, four tabs tracing at once on a 2-core server spent
# twice the CPU of the batched decode itself in their browsers (10-13 CPU-s against 6.5 at 1 s, measured with
# the users4 run of benchmarks/app_latency.py). The end of a run is shown at once either way (wait_if_ending).
PROGRESS_SECONDS = 1.0
STARTERS = {
    "Arithmetic": "What is 47 + 38? Think step by step.",
    "Capital": "What is the capital of Australia? Answer in one sentence.",
    "Story": "Write the first two sentences of a story about a lighthouse keeper.",
    "Code": "Write a Python function that reverses a string.",
}


def navigator(current: CurrentTrace) -> MomentNavigator:
    return MomentNavigator("trace", len(current.trace.moments))


def show(current: CurrentTrace) -> None:
    st.session_state[CURRENT] = current
    navigator(current).restart()
    leave_link(current)
    leave_evaluation_link(current)


# ---- running ---------------------------------------------------------------------------------------------


def settings_form() -> DecodingSettings:
    cols = st.columns([1, 1.3])
    max_new = cols[0].number_input("Max new tokens", 1, 512, value=48, step=8, key="trace_max_new")
    mode = cols[1].segmented_control("Decoding", ["Greedy", "Sampling"], default="Greedy", key="trace_mode")
    if mode != "Sampling":
        return DecodingSettings(max_new_tokens=int(max_new))
    cols = st.columns(4)
    temperature = cols[0].number_input("Temperature", 0.05, 5.0, value=0.8, step=0.05, key="trace_temperature")
    top_k = cols[1].number_input("Top-k", 0, 1000, value=50, help="0 turns it off", key="trace_top_k")
    top_p = cols[2].number_input("Top-p", 0.01, 1.0, value=0.95, step=0.01, help="1 turns it off", key="trace_top_p")
    seed = cols[3].number_input("Seed", 0, 2**31 - 1, value=0, key="trace_seed")
    return DecodingSettings(
        max_new_tokens=int(max_new),
        do_sample=True,
        temperature=float(temperature),
        top_k=int(top_k),
        top_p=float(top_p),
        seed=int(seed),
    )


def use_starter() -> None:
    choice = st.session_state.get("trace_starter")
    if choice:
        st.session_state[PROMPT] = STARTERS[choice]


def run_controls(model_id: str | None) -> None:
    st.session_state.setdefault(PROMPT, STARTERS["Arithmetic"])
    left, right = st.columns([1.4, 1], gap="large")
    with left:
        st.pills("Starter prompts", list(STARTERS), key="trace_starter", on_change=use_starter)
        prompt = st.text_area("Prompt", key=PROMPT, height=96)
    with right:
        settings = settings_form()
        running = st.session_state.get(RUN) is not None
        slot = st.empty()

        def run_button(disabled: bool, key: str | None = None) -> bool:
            return slot.button("Run", type="primary", icon=":material/play_arrow:", disabled=disabled, key=key)

        clicked = run_button(disabled=not model_id or running)
    if clicked and model_id:
        loaded = get_model(model_id)
        if loaded is not None:
            try:
                settings.validate()
            except ValueError as exc:
                st.error(str(exc))
                return
            st.session_state[RUN] = start_run(loaded, prompt, settings)
            # drawn again, disabled: until the run ends only its progress reruns, not these controls
            run_button(disabled=True, key="trace_run_started")


def moment_box(moment: Moment, clickable: bool, note: Note | None = None) -> StripToken:
    title = f"moment {moment.index}: p = {moment.prob:.3f}, rank {moment.rank}"
    return StripToken(
        text=moment.token,
        background=unsure_colour(moment.prob),
        title=title if note is None else f"{title}\nnote: {note.text}",
        index=moment.index if clickable else None,
        mark=note is not None,
    )


@st.fragment(run_every=PROGRESS_SECONDS)
def run_progress() -> None:
    """The generation as it grows, with Stop; when the run ends, its trace becomes the current one."""
    run: TraceRun | None = st.session_state.get(RUN)
    if run is None:
        return
    if run.wait_if_ending(PROGRESS_SECONDS):
        del st.session_state[RUN]
        if run.error:
            st.session_state["trace_error"] = run.error
        else:
            show(CurrentTrace(run.trace, run.key, f"run of {run.model_id}"))
        st.rerun()
    moments = list(run.moments)
    cols = st.columns([4, 1])
    cols[0].markdown(
        f"**Generating** with `{run.model_id}`: {len(moments)} / {run.settings.max_new_tokens} tokens, "
        f"{run.seconds:.1f} s"
    )
    cols[1].button("Stop", icon=":material/stop:", on_click=run.stop, key="trace_stop", width="stretch")
    static_strip([moment_box(m, clickable=False) for m in moments] or [StripToken("…")])


# ---- exploring ---------------------------------------------------------------------------------------------


@st.fragment
def explorer() -> None:
    """The current trace, one moment at a time.

    A fragment: a moment switch (a click on a token, the slider, the arrows) reruns only this part, not the
    run controls, the sidebar or the downloads above it. The trace itself changes only in full reruns (Run,
    an upload), so reading it from the session here is always the one shown above."""
    current: CurrentTrace = st.session_state[CURRENT]
    trace = current.trace
    count = len(trace.moments)
    if count == 0:
        st.info("This trace has no moments (the run was stopped before the first token).")
        return
    lesson_bar(current)
    moments = navigator(current)
    moment = moments.draw()
    notes = noted_moments(current)
    follow_note_head(current, moment)
    prompt = st.expander(f"Prompt as the model read it ({trace.prompt_len} tokens)", on_change="rerun")
    if prompt.open:
        with prompt:
            static_strip([StripToken(t) for t in trace.prompt_tokens] if trace.prompt_ids else [])
    clickable_strip(
        [moment_box(m, clickable=True, note=notes.get(m.index)) for m in trace.moments],
        key="trace_tokens",
        on_click=moments.set,
        selected=moment,
        legend="Click a token to look at its moment; red = the model was unsure (low probability)"
        + ("; an amber dot = a note." if notes else "."),
    )
    timeline(trace, moment, key="trace_timeline", on_pick=moments.set)
    m = trace.moments[moment]
    chosen = trace.moment_piece(moment)
    heading, note = st.columns([3, 2], vertical_alignment="top")
    heading.markdown(
        f"#### Moment {moment} of {count - 1}: chose `{chosen.label}` with p = {m.prob:.3f} (rank {m.rank})"
    )
    with note:
        note_box(current, moment)
    draw_in_columns(TRACE_PANELS, trace, moment, current, moment, lambda: trace_model(current))
    branch_panel(lambda: trace_model(current), current, moment)


def trace_files(current: CurrentTrace) -> None:
    """The trace's line and its downloads (made on click, from the handle: the page keeps no trace itself); the
    HTML page carries the lesson's title and notes as they are at the click."""
    trace = current.trace
    draft = draft_for(current)
    cols = st.columns([3, 1, 1.4])
    cols[0].caption(
        f"`{trace.identity.name}` · {len(trace.moments)} tokens · stopped by {trace.stop_reason} · "
        f"{trace.total_seconds:.1f} s · {current.name}"
    )
    cols[1].download_button(
        "Trace file",
        data=lambda: trace_file_bytes(current.key, current.trace),
        file_name="momentscope-trace.safetensors",
        mime="application/octet-stream",
        icon=":material/download:",
        key="trace_download",
        on_click="ignore",
    )
    cols[2].download_button(
        "Offline HTML page",
        data=lambda: trace_html(current.key, current.trace, draft.title or None, draft.sorted_notes()),
        file_name="momentscope-trace.html",
        mime="text/html",
        icon=":material/download:",
        key="trace_download_html",
        on_click="ignore",
    )


def open_upload() -> None:
    uploaded = st.session_state.get("trace_upload")
    if uploaded is None:
        return
    try:
        show(trace_from_bytes(uploaded.getvalue(), f"file {uploaded.name}"))
    except ValueError as exc:
        st.session_state["trace_error"] = str(exc)


st.header("Trace", anchor=False)
if problem := settings_problem():
    st.warning(problem, icon=":material/memory:")
if (lesson := linked_lesson() or linked_probe()) is not None:
    show(lesson)
    st.session_state[PROMPT] = lesson.trace.prompt  # so Run traces the lesson's prompt again
if (evaluated := linked_evaluation()) is not None:  # an evaluated question, at the moment it went wrong
    show(evaluated[0])
    navigator(evaluated[0]).set(evaluated[1])
    st.session_state[PROMPT] = evaluated[0].trace.prompt
model_id = model_picker()
st.sidebar.caption("An encoder (a classifier the Fine-tune page trained) opens on the [Classify](classify) page.")
run_controls(model_id)
with st.expander("Open a saved trace"):
    st.file_uploader("Trace file (.safetensors)", type=["safetensors"], key="trace_upload", on_change=open_upload)
if error := st.session_state.pop("trace_error", None):
    st.error(error, icon=":material/error:")
if st.session_state.get(RUN) is not None:
    run_progress()
elif (current := st.session_state.get(CURRENT)) is not None:
    trace_files(current)
    explorer()
