"""The Trace page in Streamlit's AppTest: run and stop, the three ways to pick a moment, the panels, files.

Clicks on the token strip (a custom component) and on the timeline (a plotly chart) have no AppTest
helper; `click_token` and `click_timeline` send the same widget state the browser sends.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetState

from page_glue.branch_panel import OPEN_KEY
from page_glue.trace_cache import CurrentTrace, trace_from_bytes, trace_to_bytes
from tests.app.conftest import app_test, deferred_downloads, opened
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings

pytestmark = pytest.mark.slow

PROMPT = "What is 47 + 38? Think step by step."


@pytest.fixture(scope="module")
def short_trace(smollm):
    return trace_generation(smollm, PROMPT, DecodingSettings(max_new_tokens=10, stop_at_eos=False))


def page_with(trace, moment: int = 0):
    at = app_test("pages/trace.py")
    at.session_state["trace_current"] = CurrentTrace(trace, f"test-{id(trace)}", "test trace")
    at.session_state["trace_moment"] = moment
    return at.run()


def run_until_done(at, timeout: float = 240):
    """Reruns the page (as the progress fragment does) until the background run has become the trace."""
    run = at.session_state["trace_run"]
    assert run.wait(timeout), "the run did not finish"
    at.run()
    assert "trace_run" not in at.session_state
    return run


def shown_moment(at) -> int:
    heading = next(m.value for m in at.markdown if m.value.startswith("#### Moment"))
    return int(heading.split()[2])


def markdown_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def assert_moment(at, expected: int) -> None:
    assert not at.exception, at.exception
    assert at.session_state["trace_moment"] == expected
    assert at.slider(key="trace_slider").value == expected
    assert shown_moment(at) == expected


def send(at, widget: WidgetState):
    states = at._tree.get_widget_states()
    states.widgets.append(widget)
    return at._run(states)


def click_token(at, index: int):
    strip = next(e for e in at.get("bidi_component") if e.proto.id.endswith("trace_tokens"))
    widget = WidgetState(id=_make_trigger_id(strip.proto.id, "events"))
    widget.json_trigger_value = json.dumps([{"event": "clicked", "value": index}])
    return send(at, widget)


def click_timeline(at, index: int):
    chart = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("trace_timeline"))
    point = {"x": index, "y": 0.5, "customdata": index, "curve_number": 0, "point_number": index}
    selection = {"points": [point], "point_indices": [index], "box": [], "lasso": []}
    return send(at, WidgetState(id=chart.proto.id, string_value=json.dumps({"selection": selection})))


def start_run(at, prompt: str, tokens: int):
    at.text_area(key="trace_prompt").input(prompt)
    at.number_input(key="trace_max_new").set_value(tokens)
    return at.button[0].click().run()


def test_run_shows_the_generation_growing_then_the_explorer(smollm):
    at = app_test("pages/trace.py").run()
    assert not at.exception
    assert at.text_area(key="trace_prompt").value == PROMPT  # the arithmetic starter
    start_run(at, PROMPT, 8)
    assert any(m.value.startswith("**Generating**") for m in at.markdown)
    assert at.button(key="trace_stop")
    run = run_until_done(at)
    trace = at.session_state["trace_current"].trace
    assert trace is run.trace and 1 <= len(trace.moments) <= 8
    assert_moment(at, 0)
    assert [h.value for h in at.main.subheader] == ["Attention", "Probabilities", "Attributions", "Interventions"]
    assert "Ġ" not in "".join(m.token for m in trace.moments)


def test_stop_ends_a_long_run_early(smollm):
    at = start_run(app_test("pages/trace.py").run(), "Write a long story about the sea.", 400)
    at.button(key="trace_stop").click().run()
    run_until_done(at)
    trace = at.session_state["trace_current"].trace
    assert trace.stop_reason == "stopped"
    assert len(trace.moments) < 400


def test_run_is_disabled_from_the_click_until_the_run_ends(smollm):
    """The click's own script run drew Run before the run existed; it is drawn again, disabled, since only the
    progress reruns until the end (a second click would start a decode beside the first)."""
    at = app_test("pages/trace.py").run()
    before = set(threading.enumerate())
    start_run(at, "Write a long story about the sea.", 400)
    first = at.session_state["trace_run"]
    assert at.button[0].label == "Run" and at.button[0].disabled
    at.run()  # any full rerun while it goes (a sidebar widget) keeps it disabled
    assert at.button[0].label == "Run" and at.button[0].disabled and at.session_state["trace_run"] is first
    assert {t for t in set(threading.enumerate()) - before if t.name.startswith("trace-")} == {first.thread}
    at.button(key="trace_stop").click().run()
    run_until_done(at)
    assert at.button[0].label == "Run" and not at.button[0].disabled


def test_starter_prompt_fills_the_prompt_box():
    at = app_test("pages/trace.py").run()
    at.button_group(key="trace_starter").set_value("Capital").run()
    assert at.text_area(key="trace_prompt").value.startswith("What is the capital of Australia")


def test_slider_buttons_tokens_and_timeline_pick_the_same_moment(short_trace):
    at = page_with(short_trace)
    assert_moment(at, 0)
    at.slider(key="trace_slider").set_value(4).run()
    assert_moment(at, 4)
    at.button(key="trace_next").click().run()
    assert_moment(at, 5)
    at.button(key="trace_prev").click().run()
    at.button(key="trace_prev").click().run()
    assert_moment(at, 3)
    click_token(at, 7)
    assert_moment(at, 7)
    click_timeline(at, 2)
    assert_moment(at, 2)
    at.button(key="trace_first").click().run()
    assert_moment(at, 0)
    at.button(key="trace_prev").click().run()
    assert_moment(at, 0)  # clamped at the first moment


def test_play_steps_through_moments_and_stops_at_the_end(short_trace):
    last = len(short_trace.moments) - 1
    at = page_with(short_trace, moment=last - 2)
    at.button(key="trace_play").click().run()
    assert at.session_state["trace_playing"]
    assert_moment(at, last - 1)  # the first step comes at once
    for _ in range(4):
        time.sleep(0.8)
        at.run()
    assert_moment(at, last)
    assert not at.session_state["trace_playing"]


def test_panels_follow_the_moment_and_appear_only_with_their_data(short_trace):
    at = page_with(short_trace, moment=1)
    assert f"**p(chosen)** {short_trace.moments[1].prob:.1%}" in markdown_text(at)
    at.slider(key="trace_slider").set_value(6).run()
    assert f"**p(chosen)** {short_trace.moments[6].prob:.1%}" in markdown_text(at)

    no_attention = load_trace_copy(short_trace)
    for moment in no_attention.moments:
        moment.attention = None
    at = page_with(no_attention)
    assert not at.exception
    assert [h.value for h in at.main.subheader] == ["Probabilities", "Attributions", "Interventions"]
    assert any(c.value.startswith("No attention panel") for c in at.caption)  # hidden, and said so


def load_trace_copy(trace):
    return trace_from_bytes(trace_to_bytes(trace), "copy").trace


def test_logit_lens_runs_on_request_and_is_cached(short_trace, monkeypatch):
    import page_glue.trace_cache as views

    calls = []
    real = views.logit_lens
    monkeypatch.setattr(views, "logit_lens", lambda *args, **kw: calls.append(args[2]) or real(*args, **kw))
    at = page_with(short_trace, moment=3)
    assert calls == []  # a plain moment render runs no forward pass
    at.toggle(key="trace_lens").set_value(True).run()
    assert not at.exception
    assert any("top guess" in c.value or "No layer" in c.value for c in at.caption)
    at.slider(key="trace_slider").set_value(4).run()
    at.slider(key="trace_slider").set_value(3).run()
    assert calls == [3, 4]  # moment 3 came from the cache the second time


def test_bertviz_view_is_offline_and_small(short_trace):
    at = page_with(short_trace, moment=5)
    at.toggle(key="trace_att_bertviz").set_value(True).run()
    assert not at.exception
    frames = at.get("iframe")
    assert len(frames) == 1
    page = frames[0].proto.srcdoc
    assert "cdnjs" not in page and not re.search(r"(src|href)=[\"']?https?:", page)
    assert "define('d3'" in page and len(page.encode()) < 2_000_000
    at.radio(key="trace_att_bv_view").set_value("model").run()
    assert not at.exception and len(at.get("iframe")) == 1


def test_trace_file_downloads_and_uploads_back_equal(short_trace, monkeypatch):
    produced = deferred_downloads(monkeypatch)
    at = page_with(short_trace)
    data = produced[at.download_button(key="trace_download").proto.deferred_file_id]()
    html = produced[at.download_button(key="trace_download_html").proto.deferred_file_id]()
    assert "<html" in html and "https://" not in html

    fresh = app_test("pages/trace.py").run()
    fresh.get("file_uploader")[0].upload("saved.safetensors", data).run()
    assert not fresh.exception
    assert fresh.session_state["trace_current"].trace == short_trace
    assert_moment(fresh, 0)


def test_upload_of_a_wrong_file_shows_an_error():
    at = app_test("pages/trace.py").run()
    at.get("file_uploader")[0].upload("notes.safetensors", b"not a trace at all").run()
    assert not at.exception
    assert at.error and "trace" in at.error[0].value.lower()


def test_trace_stays_when_moving_around_the_app(short_trace):
    at = app_test("app.py")
    at.session_state["trace_current"] = CurrentTrace(short_trace, "stays", "test trace")
    at.session_state["trace_moment"] = 4
    at.run()
    at.switch_page("pages/models.py").run()
    at.switch_page("pages/trace.py").run()
    assert not at.exception
    assert at.session_state["trace_current"].trace is short_trace
    assert_moment(at, 4)


def test_two_sessions_tracing_at_once_each_get_their_own_trace(smollm):
    prompts = ["Name three colours of the rainbow.", "Write a haiku about winter mountains."]
    tokens = 12
    sessions = [start_run(app_test("pages/trace.py").run(), prompt, tokens) for prompt in prompts]
    runs = [at.session_state["trace_run"] for at in sessions]
    assert all(not run.done for run in runs[:1]), "the first run ended before the second began"
    for at in sessions:
        run_until_done(at)
    assert runs[0].started < runs[1].finished and runs[1].started < runs[0].finished  # they overlapped
    for at, prompt in zip(sessions, prompts, strict=True):
        alone = trace_generation(smollm, prompt, DecodingSettings(max_new_tokens=tokens))
        mine = at.session_state["trace_current"].trace
        assert mine.prompt == prompt
        assert mine.generated_ids == alone.generated_ids


def test_attribution_runs_when_asked_per_method_and_is_cached(short_trace, monkeypatch):
    import page_glue.trace_cache as views

    calls = []
    real = views.attribute_moment
    monkeypatch.setattr(
        views, "attribute_moment", lambda *a, **kw: calls.append((a[2], kw["method"])) or real(*a, **kw)
    )
    at = page_with(short_trace, moment=4)
    assert at.button(key="trace_attr_go").label == "Attribute moment 4"
    assert calls == []  # nothing is attributed until asked
    at.selectbox(key="trace_attr_method").set_value("attention_rollout").run()
    at.button(key="trace_attr_go").click().run()
    assert not at.exception
    assert calls == [(4, "attention_rollout")]
    assert "**Towards:**" in markdown_text(at)
    assert any("blue = pushed towards" in h.proto.body for h in at.get("html"))

    at.selectbox(key="trace_attr_method").set_value("saliency").run()
    assert at.button(key="trace_attr_go")  # another method is asked for separately
    at.button(key="trace_attr_go").click().run()
    assert calls[-1] == (4, "saliency") and not at.exception

    at.slider(key="trace_slider").set_value(2).run()
    assert at.button(key="trace_attr_go").label == "Attribute moment 2"
    at.slider(key="trace_slider").set_value(4).run()
    at.selectbox(key="trace_attr_method").set_value("attention_rollout").run()
    assert "**Towards:**" in markdown_text(at)
    assert len(calls) == 2  # both came back from the cache
    assert not at.get("select_slider")  # steps only for a path integral


def test_integrated_gradients_steps_are_the_users_choice(short_trace, monkeypatch):
    import page_glue.trace_cache as views

    steps = []
    real = views.attribute_moment
    monkeypatch.setattr(
        views, "attribute_moment", lambda *a, **kw: steps.append(kw["settings"].n_steps) or real(*a, **kw)
    )
    at = page_with(short_trace, moment=3)
    at.selectbox(key="trace_attr_method").set_value("integrated_gradients").run()
    at.select_slider(key="trace_attr_steps").set_value(4).run()
    at.button(key="trace_attr_go").click().run()
    assert not at.exception, at.exception
    assert steps == [4]
    assert any("completeness gap" in c.value for c in at.caption)
    at.select_slider(key="trace_attr_steps").set_value(8).run()
    assert at.button(key="trace_attr_go")  # other steps are another request, asked for separately
    at.button(key="trace_attr_go").click().run()
    assert steps == [4, 8]


def test_trace_page_branches_at_the_chosen_moment(short_trace):
    at = page_with(short_trace, moment=4)
    assert any(e.label.startswith("What if") for e in at.expander)
    assert not any(box.label.startswith("Instead of") for box in at.selectbox)  # collapsed: not drawn
    at = opened(at, OPEN_KEY)
    prefix = next(box for box in at.selectbox if box.label.startswith("Instead of")).key.removesuffix("_choice")
    at.number_input(key=f"{prefix}_after").set_value(1)
    at.button(key=f"{prefix}_go").click().run()
    assert not at.exception, at.exception
    branch = at.session_state["branch_trees"][-1][1].get().node("b1").trace
    assert branch.generated_ids[:4] == short_trace.generated_ids[:4]  # shared prefix up to the moment
    assert branch.generated_ids[4] != short_trace.generated_ids[4]  # the runner-up token, forced


def test_a_chinese_trace_shows_characters_everywhere(cjk_trace):
    at = page_with(cjk_trace, moment=1)  # moment 1 completes 还, whose first bytes came at moment 0
    assert not at.exception, at.exception
    assert "chose `还²⁄₂`" in markdown_text(at)
    strip = next(e for e in at.get("bidi_component") if e.proto.id.endswith("trace_tokens"))
    html = json.loads(strip.proto.json)["html"]
    assert html.count('class="ms-part') >= 10 and "‹" not in html and "\\x" not in html
    assert "part 1 of 2 of 还 (bytes" in html
