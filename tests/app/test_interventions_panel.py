"""The Trace page's interventions panel in AppTest: each view computed on a click, continue-from-here filed in
the branch tree, a click on the commitment map moving the page's moment; an adapter trace too."""

from __future__ import annotations

import json

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState

from page_glue.intervention_panel import TAB_KEY
from page_glue.trace_cache import CurrentTrace
from tests.app.conftest import app_test, opened
from tests.app.test_trace_page import send
from tests.unit.tracing.inspection.interventions.conftest import PROMPT, SETTINGS
from tracing.core.decode import trace_generation
from tracing.inspection.interventions.contribution import contributions

pytestmark = pytest.mark.slow
MOMENT = 2


@pytest.fixture(scope="module")
def cjk_short(smollm):
    return trace_generation(smollm, PROMPT, SETTINGS)


def page_with(trace, moment: int = MOMENT, tab: str = "Contributions"):
    """The trace page at ``moment`` with the interventions panel's ``tab`` open."""
    at = app_test("pages/trace.py")
    at.session_state["trace_current"] = CurrentTrace(trace, f"iv-{id(trace)}", "test trace")
    at.session_state["trace_moment"] = moment
    at.session_state[TAB_KEY] = tab
    return at.run()


def labels(at) -> set[str]:
    return {b.label for b in at.button}


def click(at, label: str):
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, at.exception
    return at


def markdown_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_contributions_and_the_sweep_are_drawn_on_request(smollm, cjk_short):
    at = page_with(cjk_short)
    assert not at.exception, at.exception
    assert "Interventions" in [h.value for h in at.subheader]
    charts = len(at.get("plotly_chart"))
    click(at, f"Decompose moment {MOMENT}")
    expected = contributions(smollm, cjk_short, MOMENT)
    assert f"**model** {expected.logit:+.3f} = **sum of parts** {expected.total:+.3f}" in markdown_text(at)
    assert len(at.get("plotly_chart")) == charts + 1
    at = opened(at, TAB_KEY, "Ablation")
    assert len(at.get("plotly_chart")) == charts  # the decomposition's tab is closed
    click(at, "Ablate every head and MLP")
    assert len(at.get("plotly_chart")) == charts + 1
    assert any("removed alone" in c.value for c in at.caption)
    at = opened(at, TAB_KEY, "Contributions")  # back: the kept decomposition is drawn again, not recomputed
    assert f"**sum of parts** {expected.total:+.3f}" in markdown_text(at)


def test_only_the_open_tab_is_drawn(cjk_short):
    at = page_with(cjk_short)
    assert f"Decompose moment {MOMENT}" in labels(at) and "Apply" not in labels(at)
    at = opened(at, TAB_KEY, "Ablation")
    assert f"Decompose moment {MOMENT}" not in labels(at) and {"Apply", "Ablate every head and MLP"} <= labels(at)


def test_an_ablation_continues_into_the_branch_tree(cjk_short):
    at = page_with(cjk_short, tab="Ablation")
    click(at, "Apply")
    assert "head 29.0 zero-ablated at the moment's position" in markdown_text(at)
    click(at, "Continue from here under it")
    _, held = at.session_state["branch_trees"][-1]  # (trace key, the tree held in the trace store)
    tree = held.get()
    assert [node.label for _, node in tree.walk()][
        1
    ] == f"at moment {MOMENT}: head 29.0 zero-ablated at the moment's position"


def test_patching_names_a_bad_edit_and_draws_a_good_one(cjk_short):
    at = page_with(cjk_short, tab="Patching")
    at.text_area(key=f"iv_corrupt_iv-{id(cjk_short)}").set_value(PROMPT + "快说").run()
    click(at, f"Patch moment {MOMENT}")
    assert any("tokens (chat template included)" in w.value for w in at.warning)
    at.text_area(key=f"iv_corrupt_iv-{id(cjk_short)}").set_value(PROMPT.replace("剩", "差")).run()
    charts = len(at.get("plotly_chart"))
    click(at, f"Patch moment {MOMENT}")
    assert len(at.get("plotly_chart")) == charts + 1 and any("restores" in c.value for c in at.caption)


def test_a_click_on_the_commitment_map_selects_that_moment(cjk_short):
    at = page_with(cjk_short, tab="Commitment")
    click(at, "Read every moment")
    chart = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("iv_commit_map"))
    widget = WidgetState(id=chart.proto.id)
    point = {"x": "L3", "y": "4", "customdata": 4, "curve_number": 1, "point_number": 0}
    widget.string_value = json.dumps({"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}})
    at = send(at, widget)
    assert not at.exception, at.exception
    assert at.session_state["trace_moment"] == 4


def test_an_adapter_trace_is_decomposed_with_the_adapter(tmp_path, monkeypatch):
    from model_zoo import load_model
    from tests.tiny_adapter import make_tiny_adapter, temp_home

    home = temp_home(tmp_path)
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(home))
    adapter = load_model(make_tiny_adapter(home), device="cpu")
    trace = trace_generation(adapter, PROMPT, SETTINGS)
    at = page_with(trace)
    click(at, f"Decompose moment {MOMENT}")
    expected = contributions(adapter, trace, MOMENT)
    assert f"**sum of parts** {expected.total:+.3f}" in markdown_text(at)


def test_a_family_with_post_norms_says_the_decomposition_freezes_them(smollm, tmp_path):
    """A Gemma 2 folder typed in as a user would: the parts still add up, and the page says in one sentence
    that its post-norms are frozen at their actual scale (and that its logits are soft-capped)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from model_zoo import load_model

    torch.manual_seed(0)
    config = AutoConfig.for_model("gemma2", vocab_size=len(smollm.tokenizer), hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16)  # fmt: skip
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    smollm.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), device="cpu")
    trace = trace_generation(loaded, PROMPT, SETTINGS)
    at = click(page_with(trace), f"Decompose moment {MOMENT}")
    expected = contributions(loaded, trace, MOMENT)
    assert f"= **sum of parts** {expected.total:+.3f}" in markdown_text(at)
    captions = " ".join(c.value for c in at.caption)
    assert "gemma2 puts a norm between each block and the residual stream" in captions
    assert "soft-capped" in captions
