"""What tracing costs over plain generation.

Times ``model.generate`` (KV cache, no attentions, greedy) against `tracing.decode.trace_generation`
(every layer's attention row, top-k, entropy) on the same prompt, exactly ``--tokens`` new tokens each,
interleaved (the order alternates every repeat) in one process with the same thread count, so background
load hits both alike. Then one long run of each measures the per-token step time at several context
lengths (it must stay flat-ish as the context grows) and the memory of a short and a long trace.

    python benchmarks/trace_overhead.py --json

The last stdout line is a JSON object: ``ratio`` = median traced seconds / median generate seconds.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from model_zoo import default_entry, load_model  # noqa: E402
from tracing.decode import render_prompt, trace_generation  # noqa: E402
from tracing.trace import DecodingSettings  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
CONTEXTS = (64, 256, 1024)


class StepClock:
    """A stopping criterion that never stops, only notes when each generate step ends."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __call__(self, input_ids, scores, **kwargs):
        self.stamps.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def run_generate(loaded, prompt_ids: list[int], tokens: int, clock: StepClock | None = None) -> float:
    from transformers import StoppingCriteriaList

    ids = torch.tensor([prompt_ids], device=loaded.device)
    started = time.perf_counter()
    with loaded.lock:
        out = loaded.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=False,
            pad_token_id=loaded.tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList([clock]) if clock else None,
        )
    seconds = time.perf_counter() - started
    assert out.shape[1] == len(prompt_ids) + tokens, "generate did not make exactly the tokens asked for"
    return seconds


def run_trace(loaded, tokens: int, stamps: list[float] | None = None):
    settings = DecodingSettings(max_new_tokens=tokens, stop_at_eos=False)
    on_moment = (lambda moment: stamps.append(time.perf_counter())) if stamps is not None else None
    started = time.perf_counter()
    trace = trace_generation(loaded, PROMPT, settings, on_moment=on_moment)
    seconds = time.perf_counter() - started
    assert len(trace.moments) == tokens
    return seconds, trace


def step_seconds_at(stamps: list[float], prompt_len: int, context: int, window: int = 8) -> float | None:
    """Median step time around the step whose forward pass attends over ``context`` keys.

    Step j (0-based, j >= 1) feeds generated token j-1 and attends over prompt_len + j keys; its time is the
    gap between the stamps of steps j-1 and j.
    """
    centre = context - prompt_len
    lo, hi = max(1, centre - window), min(len(stamps) - 1, centre + window)
    if lo > hi:
        return None
    return statistics.median(stamps[j] - stamps[j - 1] for j in range(lo, hi + 1))


def trace_memory(trace) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        size = trace.save(Path(folder) / "trace.safetensors").stat().st_size
    return {
        "tokens": len(trace.moments),
        "attention_bytes": trace.attention_nbytes,
        "array_bytes": trace.array_nbytes,
        "file_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model id (default: the catalog's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each, interleaved")
    parser.add_argument("--long-tokens", type=int, default=1024, help="new tokens of the long run (0 skips it)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))

    loaded = load_model(args.model or default_entry().id, device=args.device)
    _, prompt_ids = render_prompt(loaded, PROMPT)
    say(f"{loaded.id} on {loaded.device}, {args.threads} threads, prompt {len(prompt_ids)} tokens")
    run_generate(loaded, prompt_ids, 8)  # warm-up: first calls pay one-off costs
    run_trace(loaded, 8)

    generate_times, trace_times = [], []
    for repeat in range(args.repeats):
        pair = [("generate", lambda: run_generate(loaded, prompt_ids, args.tokens))]
        pair.append(("trace", lambda: run_trace(loaded, args.tokens)[0]))
        for name, run in pair if repeat % 2 == 0 else pair[::-1]:
            seconds = run()
            (generate_times if name == "generate" else trace_times).append(seconds)
            say(f"repeat {repeat}: {name} {seconds:.3f} s")
    _, short_trace = run_trace(loaded, args.tokens)
    result = {
        "model": loaded.id,
        "device": str(loaded.device),
        "threads": args.threads,
        "prompt_tokens": len(prompt_ids),
        "new_tokens": args.tokens,
        "repeats": args.repeats,
        "generate_seconds": [round(t, 4) for t in generate_times],
        "trace_seconds": [round(t, 4) for t in trace_times],
        "generate_median_s": round(statistics.median(generate_times), 4),
        "trace_median_s": round(statistics.median(trace_times), 4),
        "ratio": round(statistics.median(trace_times) / statistics.median(generate_times), 4),
        "memory": {f"trace_{args.tokens}": trace_memory(short_trace)},
    }
    del short_trace

    if args.long_tokens:
        clock, stamps = StepClock(), []
        run_generate(loaded, prompt_ids, args.long_tokens, clock)
        _, long_trace = run_trace(loaded, args.long_tokens, stamps)
        result["memory"][f"trace_{args.long_tokens}"] = trace_memory(long_trace)
        del long_trace
        contexts = [c for c in CONTEXTS if len(prompt_ids) < c <= len(prompt_ids) + args.long_tokens]
        result["step_ms"] = {
            str(c): {
                "generate": round(1000 * step_seconds_at(clock.stamps, len(prompt_ids), c), 3),
                "trace": round(1000 * step_seconds_at(stamps, len(prompt_ids), c), 3),
            }
            for c in contexts
        }
    say(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
