"""The trace engine: decode a prompt moment by moment into a Trace; save, load and export traces.

Never imports streamlit: the app, the CLI (``python -m tracing``), notebooks and tests share this API.
"""

from tracing.tokens import is_special, readable_token
from tracing.trace import DecodingSettings, Moment, Trace, load_trace, trace_differences, traces_equal

__all__ = [
    "DecodingSettings",
    "Moment",
    "Trace",
    "is_special",
    "load_trace",
    "readable_token",
    "trace_differences",
    "traces_equal",
]
