"""The Classify page in AppTest on a data home of its own holding a classifier adapter as the Fine-tune page
registers one: opened by link, its decision shown with the adapter's label names and the probabilities the
engine gives, every panel drawn without an exception, and the base beside it."""

from __future__ import annotations

import logging
from urllib.parse import quote

import numpy as np
import pytest

from tests.app.conftest import app_test
from tests.tiny_adapter import temp_home
from tests.tiny_classifier_adapter import CLASSIFIER_LABELS, make_tiny_classifier

pytestmark = pytest.mark.slow
PAGE = "pages/classify.py"
TEXT = "The plot was slow at first, but the ending was wonderful."


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        home = temp_home(tmp_path_factory.mktemp("classifier-home"))
        patch.setenv("MOMENTSCOPE_HOME", str(home))
        yield make_tiny_classifier(home)


def opened_page(classifier, tab: str | None = None):
    at = app_test(PAGE)
    at.query_params["model"] = classifier
    at.session_state["cls_text"] = TEXT
    if tab:
        at.session_state["cls_tabs"] = tab
    return at.run()


def test_the_decision_is_the_engines(classifier):
    from tracing.encoders.decision import decide, load_classifier

    at = opened_page(classifier)
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="cls_model").value == classifier
    expected = decide(load_classifier(classifier, device="cpu"), TEXT)
    shown = next(m.value for m in at.markdown if m.value.startswith("**Decision:**"))
    assert f"`{CLASSIFIER_LABELS[expected.predicted]}` at {expected.probs.max():.1%}" in shown


DRAWN = {"Attention": "**Layer 5, head 0** from the first token", "Attributions": "**Explained:** logit(",
         "Contributions": "**Model**", "Base vs fine-tuned": "**Heads that moved most:**"}  # fmt: skip


@pytest.mark.parametrize("tab", [*DRAWN, "Ablation"])
def test_every_panel_draws(classifier, tab):
    at = opened_page(classifier, tab)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert tab == "Ablation" or any(m.value.startswith(DRAWN[tab]) for m in at.markdown)
    if tab == "Ablation":
        assert at.selectbox(key="cls_abl_head").value is None
    if tab == "Contributions":
        line = next(m.value for m in at.markdown if m.value.startswith("**Model**"))
        model, total = (float(part.split()[-1]) for part in line.split(" · ")[:2])
        assert np.isclose(model, total, atol=1e-3)


def test_a_fine_tune_jobs_classifier_opens_from_its_job_panel(classifier, monkeypatch):
    from finetune.training_store import TrainingJobStore

    store = TrainingJobStore()
    job = store.create_job(name="reviews", device="cpu", config={"model": "minilm-l6", "task": "classification"})
    store.update(job, step=4, total_steps=4, started_at=0.0)
    store.finish(job, "succeeded", adapter_id=classifier)
    at = app_test("app.py").run().switch_page("pages/fine_tune.py").run()  # the link needs the app's navigation
    assert not at.exception, at.exception
    at.selectbox(key="ft_job_pick").set_value(job).run()
    links = [link.proto for link in at.get("page_link") if "Classify page" in link.proto.label]
    assert [(link.page, link.query_string) for link in links] == [("classify", f"model={quote(classifier)}")]


@pytest.mark.parametrize("view", ["head", "neuron"])
def test_bertviz_views_draw_offline(classifier, view):
    at = app_test(PAGE)
    at.query_params["model"] = classifier
    at.session_state["cls_tabs"] = "Attention"
    at.session_state["cls_att_bertviz"] = True
    at.session_state["cls_att_bv_view"] = view
    at.run()
    assert not at.exception, at.exception
    frames = [element for element in at.get("iframe")]
    assert frames and "cdnjs" not in str(frames[0].proto)


# one text under both labels: at least one row is wrong
LABELLED = (
    "text,label\nThe ending was wonderful.,positive\nThe ending was wonderful.,negative\nSlow and dull.,negative\n"
)


@pytest.fixture
def state_warnings(monkeypatch):
    """What Streamlit logs about a widget given a default value and a Session State value at once (it warns
    once per process, so the flag is reset for the test)."""
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logged: list[str] = []
    policies._LOGGER.addHandler(handler)
    yield logged
    policies._LOGGER.removeHandler(handler)


def evaluated(at, key: str) -> tuple[int, str]:
    """The wrong rows' count (checked against the accuracy shown) and the first wrong row's text."""
    assert not at.exception, at.exception
    accuracy = next(m.value for m in at.markdown if m.value.startswith("**Accuracy**"))
    wrong = next(m.value for m in at.markdown if m.value.startswith("**Wrong:**"))
    count = int(wrong.split()[1].rstrip(","))
    assert f"{(3 - count) / 3:.1%}" in accuracy and "on 3 rows" in accuracy
    assert count >= 1
    first = next(m.value for m in at.markdown if m.value.startswith("line ")).split(" — ", 1)[1]
    return next(b.key for b in at.button if b.key.startswith(f"{key}_open_")), first


def opened_on_classify(at, classifier, text: str, state_warnings: list[str]) -> None:
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="cls_model").value == classifier
    assert at.text_area(key="cls_text").value == text
    assert any(m.value.startswith("**Decision:**") for m in at.markdown)
    assert not at.warning and not [m for m in state_warnings if "Session State" in m], state_warnings


def test_a_labelled_file_is_evaluated_and_a_wrong_row_opens(classifier, state_warnings):
    at = opened_page(classifier, "Evaluate on a file")
    at.file_uploader(key="cls_eval_file").upload("reviews.csv", LABELLED.encode()).run()
    button, text = evaluated(at, "cls_eval")
    at.button(key=button).click().run()
    opened_on_classify(at, classifier, text, state_warnings)  # the most confident mistake, opened in the explorer


def test_the_evaluate_page_evaluates_a_file_and_opens_a_wrong_row_on_the_classify_page(classifier, state_warnings):
    at = app_test("app.py").run().switch_page("pages/evaluate.py").run()  # switching pages needs the navigation
    assert not at.exception, at.exception
    at.selectbox(key="ev_cls_model").set_value(classifier).run()
    at.file_uploader(key="ev_cls_file").upload("reviews.csv", LABELLED.encode()).run()
    button, text = evaluated(at, "ev_cls")
    at.button(key=button).click().run()
    assert "ev_cls_model" not in [box.key for box in at.selectbox]  # on the Classify page now
    opened_on_classify(at, classifier, text, state_warnings)


def test_a_masked_lm_shows_its_prediction_at_the_mask(tmp_path):
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM

    from tests.unit.tracing.encoders.conftest import SMALL
    from tracing.encoders.decision import load_classifier
    from tracing.encoders.masked import load_masked_lm, predict_mask

    tokenizer = load_classifier("minilm-l6", device="cpu").tokenizer
    torch.manual_seed(0)
    config = AutoConfig.for_model("bert", vocab_size=len(tokenizer), **SMALL)
    AutoModelForMaskedLM.from_config(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    text = "the ending was [MASK] ."
    at = app_test(PAGE)
    at.query_params["model"] = str(tmp_path)
    at.session_state["cls_text"] = text
    at.run()
    assert not at.exception, at.exception
    expected = predict_mask(load_masked_lm(str(tmp_path), device="cpu"), text)
    shown = next(m.value for m in at.markdown if m.value.startswith("**At the mask:**"))
    assert f"`{expected.top_tokens[0]}` at {expected.top_probs[0]:.1%}" in shown
    assert any(m.value.startswith("**Explained:** logit(") for m in at.markdown)
