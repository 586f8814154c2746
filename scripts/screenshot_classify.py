"""A screenshot of the Classify page as a user sees it: the app served by `make run` (benchmarks.served_app),
opened in Debian's Chromium, a classifier adapter picked by link, one tab opened.

    MOMENTSCOPE_HOME=<home with the adapter> .venv/bin/python scripts/screenshot_classify.py \
        --model minilm-l6+reviews-job2 --tab "Base vs fine-tuned" --out docs/screenshots/classify.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.served_app import launch_chromium, served_app, wait_for_app_idle  # noqa: E402

TEXT = "The plot was slow at first, but the ending was wonderful and I would happily watch it again."
WAIT_MS = 180_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--tab", default="Base vs fine-tuned")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.mkdtemp()) / "server.log"
    with served_app(log) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 2300})
        page.goto(f"{url}/classify?model={quote(args.model)}")
        wait_for_app_idle(page, WAIT_MS)
        page.get_by_role("tab", name=args.tab).click()
        for _ in range(3):  # the open tab's views finish in several script runs
            page.wait_for_timeout(2000)
            wait_for_app_idle(page, WAIT_MS)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
