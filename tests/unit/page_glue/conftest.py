"""The tracing tests' traces, for the serving code's tests that keep them."""

from tests.unit.tracing.conftest import greedy_trace  # noqa: F401
