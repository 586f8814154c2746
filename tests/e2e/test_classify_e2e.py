"""A classifier trained on the Fine-tune page, opened on the Classify page from its job panel, explained and
set beside its base, in a real browser; then a labelled file through it on the Evaluate page, and a wrong row
opened on the Classify page. Leaves docs/screenshots/classify-compare.png for the README.

The job fine-tunes the offline encoder (minilm-l6) on 24 short reviews for 30 steps, with no validation
split and no held-out scoring, so it costs a process start, a model load and the steps. Measured on the
2-core machine (`pytest tests/e2e/test_classify_e2e.py -s` prints each wait): launch to the succeeded job
8.6-10.9 s (deadline TRAIN_S), the Classify page from the job panel 0.4-1.1 s, the Attributions tab
(Integrated Gradients, 64 steps) 1.4-1.5 s, Contributions 0.3-0.6 s, Base vs fine-tuned 0.4-0.7 s, the
labelled file evaluated 0.2-0.3 s, the wrong row opened 0.3 s (VIEW_S each); the whole test 30-37 s with the
server's start. The fine-tune then says positive at 0.83 on the review below, where its base's untrained
head says 0.50.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from tests.e2e.conftest import timed, wait_for_app_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TRAIN_S = 150
VIEW_S = 60
STEPS = 30
REVIEWS = [
    ("A wonderful film, I loved every minute.", "positive"),
    ("Dull, slow and far too long.", "negative"),
    ("The acting was superb and the ending moving.", "positive"),
    ("I walked out halfway, a waste of time.", "negative"),
    ("Funny, warm and beautifully shot.", "positive"),
    ("The plot made no sense and the jokes fell flat.", "negative"),
]
TEXT = "The plot was slow at first, but the ending was wonderful and I would happily watch it again."


def set_settings(page) -> None:
    page.get_by_text("LoRA and training settings").click()
    for label, value in (
        ("Max steps (0: use epochs)", str(STEPS)),
        ("Batch size", "8"),
        ("Max length", "32"),
        ("Held-out examples scored (base vs tuned)", "0"),
        ("Checkpoint and probes every N steps (0: at the end)", "0"),
    ):
        field = page.get_by_label(label)
        field.fill(value)
        field.press("Enter")
        wait_for_app_idle(page)
    page.get_by_role("slider", name="Validation share").focus()
    page.keyboard.press("Home")  # no validation split: the job only trains
    wait_for_app_idle(page)


def train_on_the_finetune_page(page, app_url: str, csv: Path) -> str:
    """Launches a classification job on ``csv`` and waits for it; returns the job's name."""
    # by the link: a fresh server's first request for /finetune answers "Page not found" (its file is
    # pages/fine_tune.py, and the URL is guessed from the file name before the navigation is known)
    page.goto(app_url)
    wait_for_app_idle(page)
    page.get_by_role("link", name="Fine-tune").click()
    wait_for_app_idle(page)
    page.get_by_text("Classification (encoder)").click()
    wait_for_app_idle(page)
    # the picker keeps the chat model picked before the task changed (as "Other"): pick the encoder
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name="minilm-l6", exact=True).click()
    wait_for_app_idle(page)
    page.locator("input[type=file]").first.set_input_files(str(csv))
    page.get_by_text("Median tokens").wait_for(timeout=VIEW_S * 1000)
    wait_for_app_idle(page)
    set_settings(page)
    name = f"reviews-e2e-{int(time.time())}"  # unique, so an earlier run's job cannot pass for this one
    page.get_by_label("Job name").fill(name)
    page.get_by_label("Job name").press("Enter")
    wait_for_app_idle(page)
    with timed(f"launch to a trained classifier ({STEPS} steps)"):
        page.get_by_role("button", name="Launch fine-tune").click()
        page.get_by_text(re.compile(rf"Job \d+ · {name} · succeeded")).wait_for(timeout=TRAIN_S * 1000)
        wait_for_app_idle(page)
    return name


def shown(page, pattern: str) -> re.Match:
    found = re.search(pattern, page.inner_text("[data-testid='stMain']"))
    assert found, f"{pattern!r} is not on the page"
    return found


def open_tab(page, name: str, text: str) -> None:
    with timed(name):
        page.get_by_role("tab", name=name).click()
        page.get_by_text(text).first.wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page, VIEW_S * 1000)


def wrong_row_opened_from_the_evaluate_page(page, model_id: str, csv: Path) -> None:
    """The Evaluate page's classifier section on a labelled file; its first wrong row's Open lands on the
    Classify page with that text."""
    page.get_by_role("link", name="Evaluate").click()
    wait_for_app_idle(page)
    page.get_by_label("Classifier").click()
    page.keyboard.type(model_id)  # the list shows only its first options: typing filters it
    page.get_by_role("option", name=model_id, exact=True).click()
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Labelled file")
    uploader.wait_for(timeout=VIEW_S * 1000)
    with timed("a labelled file evaluated"):
        uploader.locator("input[type=file]").set_input_files(str(csv))
        page.locator("strong", has_text="Accuracy").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page, VIEW_S * 1000)
    count = int(shown(page, r"Wrong: (\d+),")[1])
    assert count >= 1 and shown(page, rf"Accuracy {(4 - count) / 4:.1%}".replace(".", r"\.") + " ")
    text = shown(page, r"gold \w+ — (.+)")[1].strip()
    with timed("a wrong row opened on the Classify page"):
        page.get_by_test_id("stButton").get_by_role("button", name="Open", exact=True).first.click()
        page.get_by_text("Decision:").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page, VIEW_S * 1000)
    assert page.url.split("?")[0].endswith("/classify") and page.get_by_label("Text").input_value() == text
    assert not page.get_by_test_id("stAlertContentWarning").count()


def test_a_classifier_trained_on_the_finetune_page_explained_and_beside_its_base(app_url, page, tmp_path):
    from tracing.encoders.decision import decide, load_classifier

    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f'"{text}",{label}\n' for text, label in REVIEWS * 4))
    train_on_the_finetune_page(page, app_url, csv)
    with timed("the Classify page from the job panel"):
        page.get_by_role("link", name="Open it on the Classify page, beside its base").click()
        page.get_by_text("Decision:").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page, VIEW_S * 1000)
    model_id = unquote(re.search(r"model=([^&]+)", page.url)[1])
    assert model_id.startswith("minilm-l6+"), model_id
    page.get_by_label("Text").fill(TEXT)
    page.get_by_label("Text").press("Control+Enter")
    wait_for_app_idle(page, VIEW_S * 1000)
    expected = decide(load_classifier(model_id, device="cpu"), TEXT)  # the engine's decision, in this process
    label = expected.labels[expected.predicted]
    print(f"[e2e] decision: {dict(zip(expected.labels, expected.probs.round(3).tolist(), strict=True))}")
    assert set(expected.labels) == {"negative", "positive"}
    assert label == "positive" and expected.probs.max() > 0.6  # the job taught it: its base's head sits at 0.5
    shown(page, rf"Decision: {label} at {expected.probs.max():.1%}".replace(".", r"\."))

    open_tab(page, "Attributions", "completeness gap")
    explained = shown(page, r"= ([+-][\d.]+) · completeness gap ([+-][\d.e+-]+)")
    print(f"[e2e] explained {explained[1]}, completeness gap {explained[2]}")
    assert abs(float(explained[2])) < 0.05  # Integrated Gradients with 64 steps add up to the explained score
    open_tab(page, "Contributions", "sum of parts")
    parts = shown(page, r"Model ([+-][\d.]+) · sum of parts ([+-][\d.]+)")
    assert np.isclose(float(parts[1]), float(parts[2]), atol=2e-3)
    open_tab(page, "Base vs fine-tuned", "Heads that moved most")
    moved = shown(page, r"Heads that moved most: (\d+)\.(\d+) \(([\d.]+)\)")
    assert float(moved[3]) > 0  # the fine-tune's LoRA on the attention moved some head
    page.set_viewport_size({"width": 1500, "height": 1500})  # the whole tab in one picture
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3")
    page.wait_for_timeout(1500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "classify-compare.png"))
    page.set_viewport_size({"width": 1500, "height": 1000})
    labelled = tmp_path / "labelled.csv"  # one review under both labels: at least one row is wrong
    labelled.write_text(
        "text,label\n" + "".join(f'"{t}",{label}\n' for t, label in [*REVIEWS[:3], (REVIEWS[0][0], "negative")])
    )
    wrong_row_opened_from_the_evaluate_page(page, model_id, labelled)
