"""Steering and the tuned lens in a real browser, on a Chinese prompt and the offline model.

A steering vector made from two prompt lists (the page's own default lists: "I love this…" against "I hate
this…") continues the trace from moment 0 into the branch tree beside the unsteered path, and the page says where
it first departs. Then a tuned lens is trained from the logit-lens panel as a job on the model's own samples;
its report (held-out KL per layer) is lower than the logit lens's at every inner layer, and the "tuned" switch
reads it in the logit-lens panel and in the commitment map. The lens is removed afterwards, so the rest of the
suite meets the data home without one.

Deadlines, measured on the 2-core machine with other work on both cores (`pytest tests/e2e/test_steering_lens_e2e.py
-s` prints each wait): the steered continuation in about 4 s (STEER_S), the lens job with the page's defaults (8
samples of its own, 20 steps, the held-out report) in about 160 s (TRAIN_S), the tuned commitment map in 3 s.
"""

from __future__ import annotations

import re
import shutil

import pytest

from jobs.store import JobStore, default_store_path
from tests.e2e.conftest import run_trace, timed, wait_for_app_idle
from tracing.inspection.tuned_lens.report import LensReport

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
RUN_S = 30
STEER_S = 90
TRAIN_S = 480  # sampling, 20 steps of training and the held-out report (the page's defaults), as a job
VIEW_S = 60
PROMPT = "用一句话描述你今天的心情。"
LENS_KIND = "tuned-lens"


@pytest.fixture
def no_lens_left(smollm):
    from tracing.inspection.tuned_lens.lens import lens_folder

    folder = lens_folder(smollm)
    shutil.rmtree(folder, ignore_errors=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_steer_into_the_branch_tree_then_train_and_read_a_tuned_lens(app_url, page, no_lens_left, artifacts_dir):
    page.goto(app_url)
    wait_for_app_idle(page)
    run_trace(page, PROMPT, 8, RUN_S, "8-token trace")

    page.get_by_text("What if… branch at this moment").click()
    wait_for_app_idle(page)
    page.get_by_text("Steer instead of forcing a token").click()
    wait_for_app_idle(page)
    with timed("continue under steering"):
        page.get_by_role("button", name="Continue from here under steering").click()
        page.get_by_text("first departs at moment").or_(page.get_by_text("never departs")).wait_for(
            timeout=STEER_S * 1000
        )
        wait_for_app_idle(page)
    branch = page.get_by_text("What if… branch at this moment").locator("xpath=ancestor::details[1]")
    assert "first departs at moment" in branch.inner_text(), branch.inner_text()[:2000]
    assert "Parent:" in branch.inner_text()
    page.screenshot(path=str(artifacts_dir / "steering-branch.png"), full_page=True)

    page.get_by_text("Logit lens").click()
    wait_for_app_idle(page)
    page.get_by_text("tuned", exact=True).first.click()
    page.get_by_text("No tuned lens is trained").wait_for()
    wait_for_app_idle(page)
    page.get_by_text("Tuned lens: train, report").click()
    wait_for_app_idle(page)
    store = JobStore(default_store_path())
    before = max((j.id for j in store.list_jobs(LENS_KIND)), default=0)
    with timed("train a tuned lens (a job)"):
        page.get_by_role("button", name="Train a tuned lens (a job)").click()
        page.get_by_text(re.compile(r"job \d+: running")).wait_for(timeout=VIEW_S * 1000)
        job = max(store.list_jobs(LENS_KIND), key=lambda j: j.id)
        assert job.id > before
        page.get_by_text(f"job {job.id}: succeeded").wait_for(timeout=TRAIN_S * 1000)
    job = store.get(job.id)
    report = LensReport.from_dict(job.result["report"])
    assert report.lowered_everywhere(), (report.logit_kl, report.tuned_kl)

    page.reload()  # the panel finds the saved lens for this model
    wait_for_app_idle(page)
    run_trace(page, PROMPT, 8, RUN_S, "the trace again")
    page.get_by_text("Logit lens").click()
    wait_for_app_idle(page)
    page.get_by_text("tuned", exact=True).first.click()
    wait_for_app_idle(page)
    assert page.get_by_text("No tuned lens is trained").count() == 0
    page.get_by_text("becomes the top guess").or_(page.get_by_text("No layer had")).wait_for(timeout=VIEW_S * 1000)
    page.get_by_role("tab", name="Commitment").click()
    wait_for_app_idle(page)
    page.get_by_text("tuned", exact=True).last.click()
    wait_for_app_idle(page)
    with timed("commitment map, tuned"):
        page.get_by_role("button", name="Read every moment").click()
        page.get_by_text("stays the top guess").wait_for(timeout=VIEW_S * 1000)
        wait_for_app_idle(page)
    page.screenshot(path=str(artifacts_dir / "tuned-lens.png"), full_page=True)
