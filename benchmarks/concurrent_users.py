"""Many users tracing on one server: the batching scheduler against one forward pass at a time.

N = 1, 4 and 8 threads (as the server's sessions are) each trace a different prompt of the offline model for
``--tokens`` greedy tokens, starting together, in one process with the served app's torch thread count.
Each N runs twice per round, once batched (`model_zoo.step_scheduler`, what the app does) and once with batching
off (each step takes the model's lock alone: the app before batching), in alternating order, so background
load hits both alike. Every batched trace is checked against the same prompt's unbatched one (same tokens,
probabilities within 1e-4).

- ``throughput_ratio_8``: tokens per second at N = 8, batched over one at a time. Goal >= 2.5.
- ``latency_ratio_4``: a user's time to a finished trace at N = 4 (mean), batched, over one user alone,
  batched. Goal <= 2.0.

    python benchmarks/concurrent_users.py --json

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.smoke import parse_args  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from model_zoo import load_model  # noqa: E402
from model_zoo.device import use_threads_beside_a_server  # noqa: E402
from tracing.core.decode import trace_generation  # noqa: E402
from tracing.core.trace import DecodingSettings  # noqa: E402

MODEL = "smollm2-135m-instruct"
PROMPTS = [
    "请写一个关于灯塔看守人的短故事。",
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "What is 47 + 38? Think step by step.",
    "小明有三个苹果，吃了一个，还剩几个？",
    "Write a Python function that reverses a string.",
    "What is the capital of Australia? Answer in one sentence.",
    "猫が好きです。なぜ猫はかわいいのですか？",
    "Explain photosynthesis to a ten-year-old.",
]
GOALS = {"throughput_ratio_8": 2.5, "latency_ratio_4": 2.0}


def run_users(loaded, count: int, settings: DecodingSettings, batching: bool) -> dict:
    """``count`` traces started at once; each user's seconds and the traces."""
    loaded.batching = batching
    barrier = threading.Barrier(count)
    seconds: list[float] = [0.0] * count
    traces: list = [None] * count

    def user(i: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        traces[i] = trace_generation(loaded, PROMPTS[i % len(PROMPTS)], settings)
        seconds[i] = time.perf_counter() - started

    began = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    loaded.batching = True
    tokens = sum(len(t.moments) for t in traces)
    return {"seconds": seconds, "wall": wall, "tokens": tokens, "traces": traces}


def max_prob_diff(batched: list, alone: list) -> tuple[bool, float]:
    same, diff = True, 0.0
    for a, b in zip(batched, alone, strict=True):
        same &= [m.token_id for m in a.moments] == [m.token_id for m in b.moments]
        diff = max([diff] + [abs(x.prob - y.prob) for x, y in zip(a.moments, b.moments, strict=False)])
    return same, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--users", default="1,4,8", help="comma-separated numbers of simultaneous users")
    parser.add_argument("--rounds", type=int, default=2)
    args = parse_args(parser, tokens=4, users="1,2", rounds=1)
    counts = [int(n) for n in args.users.split(",")]

    threads = use_threads_beside_a_server()
    loaded = load_model(MODEL)
    settings = DecodingSettings(max_new_tokens=args.tokens, stop_at_eos=False)
    run_users(loaded, 2, DecodingSettings(max_new_tokens=4), batching=True)  # warm-up

    results: dict[int, dict[str, list]] = {n: {"batched": [], "locked": []} for n in counts}
    same_tokens, prob_diff = True, 0.0
    for round_index in range(args.rounds):
        for n in counts:
            order = (True, False) if round_index % 2 == 0 else (False, True)
            runs = {batching: run_users(loaded, n, settings, batching) for batching in order}
            same, diff = max_prob_diff(runs[True]["traces"], runs[False]["traces"])
            same_tokens &= same
            prob_diff = max(prob_diff, diff)
            for batching, run in runs.items():
                run.pop("traces")
                results[n]["batched" if batching else "locked"].append(run)
            print(
                f"round {round_index} N={n}: batched {runs[True]['wall']:.1f} s, one at a time {runs[False]['wall']:.1f} s",
                file=sys.stderr,
            )

    def throughput(n: int, side: str) -> float:
        return statistics.median(r["tokens"] / r["wall"] for r in results[n][side])

    def mean_user_seconds(n: int, side: str) -> float:
        return statistics.median(statistics.mean(r["seconds"]) for r in results[n][side])

    summary = {
        "throughput_ratio_8": round(throughput(8, "batched") / throughput(8, "locked"), 3) if 8 in counts else None,
        "latency_ratio_4": round(mean_user_seconds(4, "batched") / mean_user_seconds(1, "batched"), 3)
        if {1, 4} <= set(counts)
        else None,
        "goals": GOALS,
        "tokens_per_second": {
            str(n): {side: round(throughput(n, side), 2) for side in ("batched", "locked")} for n in counts
        },
        "mean_user_seconds": {
            str(n): {side: round(mean_user_seconds(n, side), 2) for side in ("batched", "locked")} for n in counts
        },
        "latency_ratio_4_one_at_a_time": round(mean_user_seconds(4, "locked") / mean_user_seconds(1, "locked"), 3)
        if {1, 4} <= set(counts)
        else None,
        "same_tokens": same_tokens,
        "max_prob_diff": prob_diff,
        "tokens": args.tokens,
        "torch_threads": threads,
        "rounds": args.rounds,
        "model": MODEL,
        "device": str(loaded.device),
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
