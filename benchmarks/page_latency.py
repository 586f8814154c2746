"""How fast the Trace page follows a moment switch on a 128-token trace.

Loads a 128-token trace of the offline default model into the page (Streamlit's AppTest, the same script
the browser runs), then moves the moment slider ``--switches`` times to spread-out moments and times each
script run. Only the cheap default view is open (no bertviz, logit lens or attribution), which is what a
plain moment switch must keep fast; the expensive views are computed on request and cached.

    python benchmarks/page_latency.py --json [--trace saved.safetensors]

Without ``--trace`` it first generates the trace (exactly 128 tokens, greedy). The last stdout line is a
JSON object: ``seconds_per_moment_switch`` is the median script time of one switch (target: < 0.3 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.smoke import parse_args  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from streamlit.testing.v1 import AppTest  # noqa: E402

from page_glue.trace_cache import CurrentTrace  # noqa: E402
from tracing.core.trace import DecodingSettings, Trace, load_trace  # noqa: E402

PROMPT = "What is 47 + 38? Think step by step."
TOKENS = 128


def make_trace(tokens: int) -> Trace:
    from model_zoo import default_entry, load_catalog, load_model
    from tracing.core.decode import trace_generation

    loaded = load_model(default_entry(load_catalog()).id)
    return trace_generation(loaded, PROMPT, DecodingSettings(max_new_tokens=tokens, stop_at_eos=False))


def time_switches(trace: Trace, switches: int) -> list[float]:
    at = AppTest.from_file(str(REPO / "pages" / "trace.py"), default_timeout=120)
    at.session_state["trace_current"] = CurrentTrace(trace, "benchmark", "benchmark trace")
    at.session_state["trace_moment"] = 0
    at.run()
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception[0].value}")
    count = len(trace.moments)
    # Spread-out moments, never the one shown, so every run draws a different moment.
    targets = [(7 + i * 37) % count for i in range(switches)]
    seconds = []
    for target in targets:
        slider = at.slider(key="trace_slider")
        if slider.value == target:
            target = (target + 1) % count
        slider.set_value(target)
        started = time.perf_counter()
        at.run()
        seconds.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(f"the page failed at moment {target}: {at.exception[0].value}")
        if at.session_state["trace_moment"] != target:
            raise RuntimeError(
                f"the slider asked for moment {target}, the page shows {at.session_state['trace_moment']}"
            )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--trace", type=Path, help="a saved trace to use instead of generating one")
    parser.add_argument("--switches", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=TOKENS, help="tokens of the generated trace")
    parser.add_argument("--save-trace", type=Path, help="keep the generated trace here for later runs")
    args = parse_args(parser, switches=2, tokens=8)

    if args.trace:
        trace = load_trace(args.trace)
    else:
        started = time.perf_counter()
        trace = make_trace(args.tokens)
        print(f"generated a {len(trace.moments)}-token trace in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if args.save_trace:
            trace.save(args.save_trace)
    # A round trip through the file, as a user's upload would give the page.
    with tempfile.TemporaryDirectory() as folder:
        trace = load_trace(trace.save(Path(folder) / "trace.safetensors"))
    seconds = time_switches(trace, args.switches)
    result = {
        "seconds_per_moment_switch": round(statistics.median(seconds), 4),
        "p90_seconds": round(sorted(seconds)[int(0.9 * (len(seconds) - 1))], 4),
        "max_seconds": round(max(seconds), 4),
        "switches": len(seconds),
        "moments": len(trace.moments),
        "prompt_tokens": trace.prompt_len,
        "target_seconds": 0.3,
        "method": "AppTest script run after a slider change; default panels, no forward passes",
    }
    if not args.json:
        print("\n".join(f"{key}: {value}" for key, value in result.items()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
