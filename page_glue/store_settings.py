"""The trace store's settings, read from the environment in this one place.

``MOMENTSCOPE_SESSION_MB``: the memory each browser session's traces may take (default 64; 0 turns the budget
off). ``MOMENTSCOPE_IDLE_MINUTES``: a session untouched this long has its traces spilled to disk (default 10; 0
never). `.streamlit/config.toml` cannot hold settings of an app's own, hence the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SESSION_MB_ENV = "MOMENTSCOPE_SESSION_MB"
IDLE_MINUTES_ENV = "MOMENTSCOPE_IDLE_MINUTES"
DEFAULT_SESSION_MB = 64.0  # two 256-token traces of the offline model, or one of 400 tokens
DEFAULT_IDLE_MINUTES = 10.0
MB = 1024 * 1024


@dataclass(frozen=True)
class StoreSettings:
    """The budget per session (None: no budget) and the idle time after which a session is spilled (None: never)."""

    session_bytes: int | None = int(DEFAULT_SESSION_MB * MB)
    idle_seconds: float | None = DEFAULT_IDLE_MINUTES * 60

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> StoreSettings:
        """Reads ``MOMENTSCOPE_SESSION_MB`` and ``MOMENTSCOPE_IDLE_MINUTES`` (0 turns either off); raises
        ValueError naming the variable when one is not a number >= 0."""
        session_mb = _non_negative(environ, SESSION_MB_ENV, DEFAULT_SESSION_MB)
        idle_minutes = _non_negative(environ, IDLE_MINUTES_ENV, DEFAULT_IDLE_MINUTES)
        return cls(int(session_mb * MB) or None, idle_minutes * 60 or None)


def _non_negative(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"The environment variable {name} must be a number >= 0 (0 turns it off), got {text!r}.")
    return value
