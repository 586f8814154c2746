"""The trace engine: decode a prompt moment by moment into a Trace; save, load and export traces.

Never imports streamlit: the app, the CLI (``python -m tracing``), notebooks and tests share this API.
The types load without torch; ``trace_generation`` and ``logit_lens`` import it on first use.
"""

from tracing.tokens import is_special, readable_token
from tracing.trace import DecodingSettings, Moment, Trace, load_trace, trace_differences, traces_equal

_LAZY = {"trace_generation": "tracing.decode", "logit_lens": "tracing.logit_lens", "LogitLens": "tracing.logit_lens"}

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
