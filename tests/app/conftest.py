"""AppTest helpers: scripts by absolute path, and the offline model converted before any page loads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from tests.tiny_adapter import make_tiny_adapter, temp_home

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="session")
def _model_ready(smollm):
    """The first load converts the GGUF file (~20 s); doing it here keeps page timeouts about the page."""
    return smollm


def app_test(script: str, timeout: float = 180) -> AppTest:
    """An AppTest of a script given relative to the repo root (AppTest resolves relative paths oddly)."""
    return AppTest.from_file(str(REPO / script), default_timeout=timeout)


def deferred_downloads(monkeypatch) -> dict:
    """Download buttons' data makers, by file id, as the page registers them (a test calls one as a click would)."""
    produced = {}
    real = MediaFileManager.add_deferred

    def keep(self, data_callable, *args, **kwargs):
        file_id = real(self, data_callable, *args, **kwargs)
        produced[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return produced


@pytest.fixture(scope="module")
def adapter_home(tmp_path_factory):
    """A data folder of this module's own holding the tiny test adapter (``tests.tiny_adapter.TINY_ADAPTER``),
    set as MOMENTSCOPE_HOME for the module."""
    with pytest.MonkeyPatch.context() as patch:
        home = temp_home(tmp_path_factory.mktemp("adapter-home"))
        patch.setenv("MOMENTSCOPE_HOME", str(home))
        make_tiny_adapter(home)
        yield home


def opened(at: AppTest, key: str, value=True) -> AppTest:
    """``at`` rerun with the lazily drawn expander or tabs under ``key`` opened (to ``value``), as a click does."""
    at.session_state[key] = value
    return at.run()
