"""Where Momentscope keeps what it makes: converted models, adapters, traces, fine-tune jobs.

One folder, set by the environment variable ``MOMENTSCOPE_HOME`` (default ``~/.cache/momentscope``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def folder_replaced_atomically(final: Path) -> Iterator[Path]:
    """Yields a new empty folder beside ``final`` to write into; when the block ends without an error, that
    folder takes ``final``'s place (an earlier ``final`` removed), so no reader ever sees a half-written one.
    On an error ``final`` is left as it was and the new folder removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
