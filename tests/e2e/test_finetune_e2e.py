"""The Fine-tune page in a real browser, the main flow: upload a GBK-encoded Chinese CSV and accept it read as
GBK, launch a job, stop it, train a few more steps, and see the loss curve and the probes continue.

No held-out scoring and no validation split, so the job runs no generation: what it costs is two model
loads, a handful of steps and a probe read at each checkpoint. Measured on the 2-core machine under other
load: 11-17 s from launch to step 3, 9-11 s for the two more steps, 53 s for the whole test; LAUNCH_S and
RESUME_S leave room for a busier machine.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import timed, wait_for_app_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LAUNCH_S = 120
RESUME_S = 120
ROWS = [
    ("小明有三个苹果，吃了一个，还剩几个？", "还剩两个。"),
    ("一年有几个月？", "一年有十二个月。"),
    ("北京是哪个国家的首都？", "北京是中国的首都。"),
    ("一周有几天？", "一周有七天。"),
]


def test_upload_train_stop_resume_and_the_curves_continue(app_url, page, artifacts_dir, tmp_path):
    from finetune.training_store import TrainingJobStore as JobStore

    csv = tmp_path / "问答.csv"
    csv.write_bytes(("prompt,response\n" + "".join(f"{q},{a}\n" for q, a in ROWS * 3)).encode("gbk"))
    page.goto(f"{app_url}/fine_tune")
    wait_for_app_idle(page)
    page.locator("input[type=file]").first.set_input_files(str(csv))
    page.get_by_text("read as GBK (detected, not UTF-8)").wait_for()
    page.get_by_text("小明有三个苹果").first.wait_for(state="attached")  # the preview (a canvas grid) reads as Chinese
    page.screenshot(path=str(artifacts_dir / "finetune-upload-gbk.png"))
    page.get_by_text("read as GBK (detected, not UTF-8)").click()
    page.get_by_text("Median tokens").wait_for()
    page.get_by_text("LoRA and training settings").click()
    for label, value in (
        ("Max steps (0: use epochs)", "400"),
        ("Batch size", "2"),
        ("Max length", "64"),
        ("Held-out examples scored (base vs tuned)", "0"),
        ("Checkpoint and probes every N steps (0: at the end)", "2"),
        ("Probes (held-out questions)", "1"),
    ):
        field = page.get_by_label(label)
        field.fill(value)
        field.press("Enter")
        wait_for_app_idle(page)
    page.get_by_role("slider", name="Validation share").focus()
    page.keyboard.press("Home")  # no validation split: nothing to generate during the run
    wait_for_app_idle(page)
    name = f"e2e-{int(time.time())}"  # unique, so an earlier run's job cannot pass for this one
    page.get_by_label("Job name").fill(name)
    page.get_by_label("Job name").press("Enter")
    wait_for_app_idle(page)

    with timed("launch to step 3"):
        page.get_by_role("button", name="Launch fine-tune").click()
        page.get_by_text(re.compile(rf"Job \d+ · {name}")).first.wait_for()
        page.get_by_text(re.compile(r"step ([3-9]|\d\d+) of 400")).wait_for(timeout=LAUNCH_S * 1000)
    job_id = int(re.search(rf"Job (\d+) · {name}", page.inner_text("body"))[1])
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(rf"Job {job_id} · {name} · stopped")).wait_for(timeout=60_000)
    store = JobStore()
    stopped_at = store.get(job_id).step
    assert stopped_at >= 3

    with timed("two more steps"):
        page.get_by_label("More steps").fill("2")
        page.get_by_label("More steps").press("Enter")
        wait_for_app_idle(page)
        page.get_by_role("button", name="Train 2 more steps").click()
        page.get_by_text(re.compile(rf"Job {job_id} · {name} · succeeded")).wait_for(timeout=RESUME_S * 1000)
    page.get_by_text("Open probe 1 at step", exact=False).wait_for()
    losses = [step for step, _ in store.metrics(job_id)["loss"]]
    assert losses == list(range(1, stopped_at + 3))  # the curve goes on from the stop, no step twice
    assert {r["step"] for r in store.probe_readings(job_id)} >= {0, stopped_at, stopped_at + 2}
    body = page.inner_text("body")
    assert f"+{name}-job{job_id}" in body and "tensorboard --logdir" in body
    page.get_by_text("Moment (most changed first)").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "finetune-page.png"), full_page=True)
