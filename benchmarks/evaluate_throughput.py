"""An evaluation's speed: the 40 held-out questions of the bundled addition sample, all decoded together
(`trace_all` through the model's batching scheduler, what an evaluation job does) against one question at a
time, in one run, in alternating order per round so background load hits both alike. Both sides do the whole
evaluation (greedy answers of up to 64 tokens, the answer read and checked, the departure from each reference
solution) and must give the same answers.

- ``speedup``: one-at-a-time seconds over batched seconds (median over rounds). Goal >= 3.
- ``same_answers``: every question's generated text, answer and departure moment equal on both sides.

    nice -n 15 python benchmarks/evaluate_throughput.py --json

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.smoke import parse_args  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from finetune.sample_data import sample_path  # noqa: E402
from model_zoo import load_model  # noqa: E402
from model_zoo.device import use_threads_beside_a_server  # noqa: E402
from model_zoo.step_scheduler import MAX_ROWS  # noqa: E402
from tracing.experiments.evaluate_questions import evaluate_model  # noqa: E402
from tracing.experiments.evaluation import EvaluationSettings  # noqa: E402
from tracing.experiments.questions import read_questions_file  # noqa: E402

MODEL = "smollm2-135m-instruct"
GOALS = {"speedup": 3.0}


def answers(run) -> list[tuple]:
    return [(r.text, r.answer, None if r.departure is None else r.departure.moment) for r in run.results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--questions", type=int, default=0, help="the first N held-out questions (default: all)")
    args = parse_args(parser, rounds=1, max_new_tokens=4, questions=4)

    threads = use_threads_beside_a_server()
    loaded = load_model(MODEL)
    questions = read_questions_file(str(sample_path("test"))).questions
    questions = questions[: args.questions] if args.questions else questions
    settings = EvaluationSettings(max_new_tokens=args.max_new_tokens)
    evaluate_model(loaded, questions[:2], EvaluationSettings(max_new_tokens=4))  # warm-up
    seconds: dict[str, list[float]] = {"batched": [], "one_at_a_time": []}
    same, accuracy = True, None
    for round_index in range(args.rounds):
        order = ("batched", "one_at_a_time") if round_index % 2 == 0 else ("one_at_a_time", "batched")
        runs = {}
        for side in order:
            started = time.perf_counter()
            # batched: as an evaluation job runs it (up to the scheduler's MAX_ROWS questions at once)
            at_once = 1 if side == "one_at_a_time" else MAX_ROWS
            runs[side] = evaluate_model(loaded, questions, settings, at_once=at_once)
            seconds[side].append(time.perf_counter() - started)
            print(f"round {round_index} {side}: {seconds[side][-1]:.1f} s", file=sys.stderr)
        same &= answers(runs["batched"]) == answers(runs["one_at_a_time"])
        accuracy = runs["batched"].accuracy
    batched, alone = statistics.median(seconds["batched"]), statistics.median(seconds["one_at_a_time"])
    summary = {
        "speedup": round(alone / batched, 3),
        "same_answers": same,
        "goals": GOALS,
        "seconds": {"batched": round(batched, 2), "one_at_a_time": round(alone, 2)},
        "questions": len(questions),
        "max_new_tokens": args.max_new_tokens,
        "accuracy": accuracy,
        "rounds": args.rounds,
        "torch_threads": threads,
        "model": MODEL,
        "device": str(loaded.device),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(summary) if args.json else json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
