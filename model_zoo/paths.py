"""Where Momentscope keeps what it makes: converted models, adapters, traces, fine-tune jobs.

One folder, set by the environment variable ``MOMENTSCOPE_HOME`` (default ``~/.cache/momentscope``).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "MOMENTSCOPE_HOME"


def data_home() -> Path:
    """The data folder, created on first use."""
    root = Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "momentscope").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_dir(name: str) -> Path:
    """A named sub-folder of the data folder (``converted``, ``adapters``, ``jobs``...), created on first use."""
    path = data_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
