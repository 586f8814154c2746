"""Several decodes at once (`trace_all`): the traces one by one would give, in order, and errors surfaced."""

from __future__ import annotations

import pytest

from tests.conftest import CJK_PROMPT
from tests.unit.model_zoo.test_step_scheduler import assert_same_trace, solo
from tracing.core.decode_many import trace_all
from tracing.core.trace import DecodingSettings

pytestmark = pytest.mark.slow


def test_trace_all_equals_one_by_one_in_order(smollm):
    requests = [
        ("What is 2 + 2?", DecodingSettings(max_new_tokens=6)),
        (CJK_PROMPT, DecodingSettings(max_new_tokens=8, do_sample=True, seed=4)),
        ("Name a fruit.", DecodingSettings(max_new_tokens=5)),
    ]
    seen = []
    traces = trace_all(smollm, requests, on_trace=lambda i, t: seen.append(i))
    for trace, (prompt, settings) in zip(traces, requests, strict=True):
        assert trace.prompt == prompt
        assert_same_trace(trace, solo(smollm, prompt, settings))
    assert sorted(seen) == [0, 1, 2]


def test_a_bad_request_is_raised_and_stop_ends_every_decode(smollm):
    with pytest.raises(ValueError, match="prompt is empty"):
        trace_all(smollm, [("Hi", DecodingSettings(max_new_tokens=2)), ("  ", DecodingSettings(max_new_tokens=2))])
    traces = trace_all(smollm, [("Hi", DecodingSettings(max_new_tokens=8))] * 2, should_stop=lambda: True)
    assert [t.stop_reason for t in traces] == ["stopped", "stopped"]
    assert trace_all(smollm, []) == []
