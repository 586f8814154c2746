"""The Fine-tune page in a real browser: pick the bundled sample, launch a few-step job, watch it finish.

The 2-step job (its own process: loading, base and tuned held-out scoring, two steps) took 111 s from the
click to "succeeded" with three other test processes on the 2-core machine; the deadline is JOB_S.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import timed, wait_for_app_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
JOB_S = 300


def test_sample_job_runs_to_the_end(app_url, page, artifacts_dir):
    page.goto(f"{app_url}/finetune")
    wait_for_app_idle(page)
    page.get_by_text("Bundled sample: step-by-step addition").click()
    page.get_by_text("Median tokens").wait_for()
    page.get_by_text("LoRA and training settings").click()
    for label, value in (
        ("Max steps (0: use epochs)", "2"),
        ("Batch size", "2"),
        ("Max length", "64"),
        ("Held-out examples scored (base vs tuned)", "2"),
    ):
        field = page.get_by_label(label)
        field.fill(value)
        field.press("Enter")
        wait_for_app_idle(page)
    name = f"e2e-{int(time.time())}"  # unique, so an earlier run's job cannot pass for this one
    page.get_by_label("Job name").fill(name)
    page.get_by_label("Job name").press("Enter")
    wait_for_app_idle(page)
    with timed("2-step fine-tune job"):
        page.get_by_role("button", name="Launch fine-tune").click()
        page.get_by_text(re.compile(rf"Job \d+ · {name}")).first.wait_for()
        page.get_by_text(re.compile(rf"Job \d+ · {name} · succeeded")).wait_for(timeout=JOB_S * 1000)
    page.get_by_text("Adapter saved as", exact=False).wait_for()
    body = page.inner_text("body")
    assert f"+{name}-job" in body
    page.screenshot(path=str(artifacts_dir / "finetune-page.png"), full_page=True)
