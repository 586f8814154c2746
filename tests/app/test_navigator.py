"""The moment navigator Trace and Compare share (page_glue/navigator.py), in a small AppTest script: every
control writes the one moment key, moments stay within the trace, Play stops at the end, and two navigators
with different keys do not disturb each other."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest


def script():
    import streamlit as st

    from page_glue.navigator import MomentNavigator

    for key in ("one", "two"):
        moment = MomentNavigator(key, st.session_state[f"{key}_count"]).draw()
        st.markdown(f"{key} shows {moment}")


def navigators(one: int = 6, two: int = 3) -> AppTest:
    at = AppTest.from_function(script, default_timeout=30)
    at.session_state["one_count"] = one
    at.session_state["two_count"] = two
    return at.run()


def shown(at, key: str = "one") -> int:
    text = next(m.value for m in at.markdown if m.value.startswith(f"{key} shows"))
    return int(text.split()[-1])


def assert_shows(at, expected: int, key: str = "one") -> None:
    assert not at.exception, at.exception
    assert at.session_state[f"{key}_moment"] == expected
    assert at.slider(key=f"{key}_slider").value == expected
    assert shown(at, key) == expected


def test_buttons_and_slider_move_one_moment_within_the_trace():
    at = navigators()
    assert_shows(at, 0)
    at.button(key="one_prev").click().run()
    assert_shows(at, 0)  # nothing before the first moment
    at.slider(key="one_slider").set_value(4).run()
    assert_shows(at, 4)
    at.button(key="one_next").click().run()
    assert_shows(at, 5)
    at.button(key="one_next").click().run()
    assert_shows(at, 5)  # nothing after the last
    at.button(key="one_first").click().run()
    assert_shows(at, 0)
    assert_shows(at, 0, key="two")  # the other navigator never moved


def test_a_shorter_trace_keeps_the_moment_within_its_moments():
    at = navigators()
    at.slider(key="one_slider").set_value(5).run()
    at.session_state["one_count"] = 2
    at.run()
    assert_shows(at, 1)


def test_set_is_the_callback_other_controls_use():
    at = navigators()
    at.session_state["one_moment"] = 3  # what a token or timeline click writes, through MomentNavigator.set
    at.run()
    assert_shows(at, 3)
    at.session_state["one_moment"] = 40
    at.run()
    assert_shows(at, 5)


def test_play_steps_to_the_end_then_stops_and_restarts_from_the_start():
    at = navigators(two=4)
    at.slider(key="two_slider").set_value(1).run()
    at.button(key="two_play").click().run()
    assert at.session_state["two_playing"]
    assert at.button(key="two_play").label == "Pause"
    assert_shows(at, 2, key="two")  # the first step comes at once
    for _ in range(3):
        time.sleep(0.8)
        at.run()
    assert_shows(at, 3, key="two")
    assert not at.session_state["two_playing"]
    assert at.button(key="two_play").label == "Play"
    assert_shows(at, 0)  # the other navigator did not play

    at.button(key="two_play").click().run()  # at the end, Play starts over
    assert at.session_state["two_playing"] and shown(at, "two") in (0, 1)


def test_one_moment_has_nothing_to_slide():
    at = navigators(one=1)
    assert_shows(at, 0)
    assert at.slider(key="one_slider").disabled
