"""The trace engine: decode a prompt moment by moment into a Trace; save, load and export traces.

Rooms: ``core`` (the trace and how it is made), ``inspection`` (attention views, logit lens, attributions),
``experiments`` (compare, branch, consistency), ``export`` (HTML), ``cli`` (``python -m tracing``).
Never imports streamlit: the app, the CLI, notebooks and tests share this API. The types load without
torch; ``trace_generation`` imports it on first use.
"""

from tracing.core.tokens import is_special, readable_token
from tracing.core.trace import DecodingSettings, Moment, Trace, load_trace, trace_differences, traces_equal
from tracing.inspection.logit_lens import LogitLens, logit_lens

_LAZY = {"trace_generation": "tracing.core.decode"}

__all__ = [
    "DecodingSettings",
    "LogitLens",
    "Moment",
    "Trace",
    "is_special",
    "load_trace",
    "logit_lens",
    "readable_token",
    "trace_differences",
    "trace_generation",
    "traces_equal",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracing' has no attribute {name!r}")
