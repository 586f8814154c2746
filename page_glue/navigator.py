"""The moment navigator Trace and Compare share: first, previous, a slider, next, and Play.

The moment being looked at lives in one session key (``<key>_moment``); the navigator's buttons and slider,
a click on a token strip and a click on a timeline all write that key through `MomentNavigator.set`, so
every control on the page agrees. Play steps one moment every ``PLAY_SECONDS`` until the last.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

PLAY_SECONDS = 0.8


@dataclass(frozen=True)
class MomentNavigator:
    """The moment controls of one page: ``key`` prefixes their session keys, ``count`` moments to move over."""

    key: str
    count: int

    @property
    def moment_key(self) -> str:
        return f"{self.key}_moment"

    @property
    def playing_key(self) -> str:
        return f"{self.key}_playing"

    @property
    def playing(self) -> bool:
        return st.session_state.get(self.playing_key, False)

    def set(self, index: int) -> None:
        """Shows moment ``index``, kept within the moments there are (a callback for any control)."""
        st.session_state[self.moment_key] = min(max(int(index), 0), max(self.count - 1, 0))

    def step(self, delta: int) -> None:
        self.set(st.session_state.get(self.moment_key, 0) + delta)

    def current(self) -> int:
        """The moment shown, kept within this page's moments (an earlier trace may have had more)."""
        self.set(st.session_state.get(self.moment_key, 0))
        return st.session_state[self.moment_key]

    def restart(self) -> None:
        """Back to the first moment, not playing: for a new trace or result."""
        st.session_state[self.moment_key] = 0
        st.session_state[self.playing_key] = False

    def toggle_play(self) -> None:
        st.session_state[self.playing_key] = not self.playing
        if self.playing and st.session_state.get(self.moment_key, 0) >= self.count - 1:
            st.session_state[self.moment_key] = 0  # play from the start when at the end

    def draw(self) -> int:
        """The controls; returns the moment shown. While playing, a ticker steps it."""
        moment = self.current()
        slider = f"{self.key}_slider"
        st.session_state[slider] = moment
        cols = st.columns([0.5, 0.5, 8, 0.5, 0.9], vertical_alignment="bottom")
        cols[0].button(
            "", icon=":material/skip_previous:", key=f"{self.key}_first", on_click=self.set, args=(0,), help="First"
        )
        cols[1].button(
            "", icon=":material/chevron_left:", key=f"{self.key}_prev", on_click=self.step, args=(-1,), help="Previous"
        )
        cols[2].slider(
            "Moment",
            0,
            max(self.count - 1, 1),
            key=slider,
            on_change=lambda: self.set(st.session_state[slider]),
            disabled=self.count < 2,
        )
        cols[3].button(
            "", icon=":material/chevron_right:", key=f"{self.key}_next", on_click=self.step, args=(1,), help="Next"
        )
        playing = self.playing
        cols[4].button(
            "Pause" if playing else "Play",
            icon=":material/pause:" if playing else ":material/play_arrow:",
            key=f"{self.key}_play",
            on_click=self.toggle_play,
            width="stretch",
        )
        if playing:
            play_ticker(self)
        return moment


@st.fragment(run_every=PLAY_SECONDS)
def play_ticker(navigator: MomentNavigator) -> None:
    """Steps one moment every PLAY_SECONDS (the time check skips the full-page reruns it causes itself)."""
    now = time.monotonic()
    last_step = f"{navigator.key}_last_step"
    if now - st.session_state.get(last_step, 0.0) < PLAY_SECONDS * 0.8:
        return
    st.session_state[last_step] = now
    if st.session_state.get(navigator.moment_key, 0) >= navigator.count - 1:
        st.session_state[navigator.playing_key] = False
    else:
        navigator.step(1)
    st.rerun()
