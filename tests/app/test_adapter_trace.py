"""An adapter traced on the Trace page: every panel that needs the model (attribution, logit lens, bertviz,
branch) runs with the adapter the trace names, not its base."""

from __future__ import annotations

import pytest

from model_zoo import ModelIdentity
from page_glue.branch_panel import OPEN_KEY
from tests.app.conftest import app_test, opened
from tests.app.test_trace_page import markdown_text, run_until_done, start_run
from tests.conftest import OFFLINE_CHAT_MODEL
from tests.tiny_adapter import TINY_ADAPTER

pytestmark = pytest.mark.slow


def test_an_adapter_trace_is_attributed_and_explored_on_the_trace_page(adapter_home):
    at = app_test("pages/trace.py")
    at.session_state["model_id"] = TINY_ADAPTER
    at.run()
    start_run(at, "What is 2 + 3?", 4)
    trace = run_until_done(at).trace
    assert trace.identity == ModelIdentity(OFFLINE_CHAT_MODEL, TINY_ADAPTER)

    at.slider(key="trace_slider").set_value(2).run()
    at.selectbox(key="trace_attr_method").set_value("saliency").run()
    at.button(key="trace_attr_go").click().run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert "**Towards:**" in markdown_text(at)

    at.toggle(key="trace_lens").set_value(True).run()
    at.toggle(key="trace_att_bertviz").set_value(True).run()
    assert not at.exception and not at.error and len(at.get("iframe")) == 1
    assert any("top guess" in c.value or "No layer" in c.value for c in at.caption)

    at = opened(at, OPEN_KEY)
    prefix = next(box for box in at.selectbox if box.label.startswith("Instead of")).key.removesuffix("_choice")
    at.number_input(key=f"{prefix}_after").set_value(1)
    at.button(key=f"{prefix}_go").click().run()
    assert not at.exception and not at.error
    branch = at.session_state["branch_trees"][-1][1].get().node("b1").trace
    assert branch.identity == trace.identity and branch.generated_ids[:2] == trace.generated_ids[:2]
