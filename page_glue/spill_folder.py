"""The spill folder's housekeeping: one folder per server process, locked while that process runs, so a new
store can tell the folders of ended processes (their lock is free) and remove them; and handing the memory of
spilled values back to the system.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: folders of ended processes are left for the user to remove
    fcntl = None

LOCK_NAME = ".lock"


def hold_lock(folder: Path):
    """An open file in ``folder``, locked for as long as this process runs (None where file locks are not
    available)."""
    if fcntl is None:
        return None
    handle = open(folder / LOCK_NAME, "w")  # noqa: SIM115 - kept open, and so locked, for the store's life
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def remove_ended_folders(root: Path) -> list[Path]:
    """Removes the spill folders under ``root`` whose process has ended (their lock is free); returns them."""
    if fcntl is None:
        return []
    removed = []
    for folder in root.iterdir():
        lock = folder / LOCK_NAME
        if not folder.is_dir():
            continue
        try:
            with open(lock, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a running process: OSError
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def release_freed_memory() -> None:
    """Hands memory freed by spilled values back to the system (glibc keeps freed heap pages otherwise)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
