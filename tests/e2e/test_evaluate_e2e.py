"""The Evaluate page in a real browser: upload a Chinese and English questions CSV with reference solutions,
evaluate the base beside an adapter (the tiny test adapter), watch the job, show the wrong ones, open one on
the Trace page at the moment it left its reference.

Measured on the 2-core machine beside other work: the job (its own process: two model loads, 4 questions of
24 tokens each) took 19 s from the click to "succeeded"; the deadline is JOB_S. Opening the question on the Trace
page took 0.9 s (the default 20 s deadline).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import timed, wait_for_app_idle
from tests.tiny_adapter import TINY_ADAPTER, make_tiny_adapter

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
JOB_S = 90
QUESTIONS = (
    "问题,答案,解答\n"
    "小明有 3 个苹果，又买了 4 个，一共几个？,7,先数 3 个，再加 4 个：3 + 4 = 7。Answer: 7\n"
    'What is 12 + 30? Add column by column.,42,"Ones: 2 + 0 = 2, write 2. Tens: 1 + 3 = 4, write 4. Answer: 42"\n'
    'What is 5 + 6?,11,"Ones: 5 + 6 = 11, write 1 carry 1. Answer: 11"\n'
    "一百加一百等于多少？,200,一百加一百是两百。Answer: 200\n"
)


def test_upload_watch_filter_and_open_a_wrong_answer_at_its_departure(app_url, page, artifacts_dir, tmp_path):
    make_tiny_adapter(Path(os.environ["MOMENTSCOPE_HOME"]))  # the served app's data home: a tuned side to compare
    name = f"题目-{int(time.time())}"  # unique, so an earlier run's job cannot pass for this one
    csv_file = tmp_path / f"{name}.csv"
    csv_file.write_text(QUESTIONS, encoding="utf-8")
    page.goto(f"{app_url}/evaluate")
    wait_for_app_idle(page)
    page.locator("input[type=file]").set_input_files(str(csv_file))
    page.get_by_text("4 questions, 4 with a reference solution").wait_for()
    page.get_by_label("Adapter, beside the base").click()
    page.get_by_role("option", name=TINY_ADAPTER).click()
    wait_for_app_idle(page)
    page.get_by_label("Max new tokens").fill("24")
    page.get_by_label("Max new tokens").press("Enter")
    wait_for_app_idle(page)
    with timed("evaluation job of 4 questions"):
        page.get_by_role("button", name="Start evaluation").click()
        page.get_by_text(re.compile(rf"Job \d+ · {name}")).first.wait_for()
        page.get_by_text(re.compile(rf"Job \d+ · {name} · succeeded")).wait_for(timeout=JOB_S * 1000)
    page.get_by_text("Reliability").first.wait_for()
    page.get_by_text("fixed / broken by the adapter").wait_for()
    page.get_by_text("Wrong only", exact=True).click()
    wait_for_app_idle(page)
    page.screenshot(path=str(artifacts_dir / "evaluate-page.png"), full_page=True)
    with timed("open a wrong answer on the Trace page"):
        page.get_by_role("button", name="Open on the Trace page").click()
        page.get_by_text(re.compile(r"Moment \d+ of \d+: chose")).wait_for()
    wait_for_app_idle(page)
    assert "evaluation=" in page.url
    heading = page.get_by_text(re.compile(r"Moment \d+ of \d+: chose")).inner_text()
    assert page.get_by_text(re.compile(r"evaluation \d+, question \d+ \(smollm2-135m-instruct\)")).count() == 1
    page.screenshot(path=str(artifacts_dir / "evaluate-departure.png"), full_page=True)
    assert not [u for u in page.requested_urls if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
    assert heading
