"""The app in a real browser: it starts on the offline default model and asks nothing of the internet."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import wait_for_app_idle

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_models_page_shows_offline_default_and_stays_on_loopback(app_url, page, artifacts_dir):
    page.goto(f"{app_url}/models")
    wait_for_app_idle(page)
    page.get_by_text("In use: smollm2-135m-instruct").wait_for()
    catalog = page.get_by_test_id("stTable")
    for model_id in ("smollm2-135m-instruct", "minilm-l6", "gpt2", "qwen2.5-0.5b-instruct"):
        catalog.get_by_text(model_id, exact=True).first.wait_for()  # the table streams in after the heading
    page.get_by_test_id("stMetric").filter(has_text="Layers").wait_for()
    metrics = page.get_by_test_id("stMetric").all_inner_texts()
    assert any("Layers" in m and "30" in m for m in metrics), metrics  # SmolLM2-135M has 30 layers
    page.screenshot(path=str(artifacts_dir / "models-page.png"), full_page=True)
    page.screenshot(path=str(SCREENSHOTS / "models-page.png"))  # the picture in README

    hosts = {urlparse(url).hostname for url in page.requested_urls if url.startswith(("http:", "https:", "ws"))}
    outside = [url for url in page.requested_urls if urlparse(url).hostname not in (None, "127.0.0.1")]
    assert hosts == {"127.0.0.1"}, f"the page reached outside this machine: {outside}"
