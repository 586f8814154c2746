"""What tracing costs over plain generation.

Times ``model.generate`` (KV cache, no attentions, greedy) against `tracing.core.decode.trace_generation`
(every layer's attention row, top-k, entropy) on the same prompt, exactly ``--tokens`` new tokens each,
interleaved (the order alternates every repeat) in one process with the same thread count, so background
load hits both alike. Then both run a few steps after prompts of several lengths, for the per-token step
time as the context grows (it must stay flat-ish), and a short and a long trace are measured for memory.

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
from benchmarks.smoke import parse_args  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from model_zoo import default_entry, load_model  # noqa: E402
from tracing.core.decode import render_prompt, trace_generation  # noqa: E402
from tracing.core.trace import DecodingSettings  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
CONTEXTS = (64, 256, 1024)


def now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


class StepClock:
    """A stopping criterion that never stops, only notes when each generate step ends."""

    def __init__(self) -> None:
        self.stamps: list[tuple[float, float]] = []

    def __call__(self, input_ids, scores, **kwargs):
        self.stamps.append(now())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class Stopwatch:
    """Wall and process CPU seconds of a block (CPU time shows the work done, whatever else the machine runs)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_generate(loaded, prompt_ids: list[int], tokens: int, clock: StepClock | None = None) -> Stopwatch:
    from transformers import StoppingCriteriaList

    ids = torch.tensor([prompt_ids], device=loaded.device)
    with Stopwatch() as watch, loaded.lock:
        out = loaded.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=False,
            pad_token_id=loaded.tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList([clock]) if clock else None,
        )
    assert out.shape[1] == len(prompt_ids) + tokens, "generate did not make exactly the tokens asked for"
    return watch


def run_trace(loaded, tokens: int, stamps: list | None = None, prompt: str = PROMPT, chat: bool = True):
    settings = DecodingSettings(max_new_tokens=tokens, stop_at_eos=False, use_chat_template=chat)
    on_moment = (lambda moment: stamps.append(now())) if stamps is not None else None
    with Stopwatch() as watch:
        trace = trace_generation(loaded, prompt, settings, on_moment=on_moment)
    assert len(trace.moments) == tokens
    return watch, trace


def text_of_about(loaded, tokens: int) -> str:
    """Plain text that tokenizes to about ``tokens`` tokens (a context of that length for step timings)."""
    ids = loaded.tokenizer((PROMPT + " ") * (tokens // 8 + 8), add_special_tokens=False)["input_ids"]
    return loaded.tokenizer.decode(ids[: tokens - 1])


def median_step_ms(stamps: list[tuple[float, float]], clock: int) -> float:
    """Median wall (clock 0) or CPU (clock 1) milliseconds of the steps after the first (which reads the
    whole prompt)."""
    return round(1000 * statistics.median(b[clock] - a[clock] for a, b in zip(stamps, stamps[1:], strict=False)), 3)


def step_times(loaded, context: int, steps: int) -> dict:
    """Per-token step time of generate and of the trace once ``context`` tokens have been read."""
    prompt = text_of_about(loaded, context)
    _, prompt_ids = render_prompt(loaded, prompt, use_chat_template=False)
    clock, stamps = StepClock(), []
    run_generate(loaded, prompt_ids, steps, clock)
    run_trace(loaded, steps, stamps, prompt=prompt, chat=False)
    return {
        "context": len(prompt_ids),
        "generate": median_step_ms(clock.stamps, 0),
        "trace": median_step_ms(stamps, 0),
        "generate_cpu": median_step_ms(clock.stamps, 1),
        "trace_cpu": median_step_ms(stamps, 1),
    }


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
    parser.add_argument("--repeats", type=int, default=4, help="timed runs of each, interleaved")
    parser.add_argument("--long-tokens", type=int, default=1024, help="tokens of the long trace measured for memory")
    parser.add_argument("--step-tokens", type=int, default=16, help="steps timed at each context length")
    # One thread by default: on a CPU shared with other work, multi-threaded steps stall on descheduled
    # threads (20x slower here) and swamp what is measured; both sides always get the same count.
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (default 1)")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parse_args(parser, argv, tokens=4, repeats=1, long_tokens=16, step_tokens=2)
    torch.set_num_threads(args.threads)
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # stdout carries the JSON result only
    loaded = load_model(args.model or default_entry().id, device=args.device)
    _, prompt_ids = render_prompt(loaded, PROMPT)
    say(f"{loaded.id} on {loaded.device}, {args.threads} threads, prompt {len(prompt_ids)} tokens")
    run_generate(loaded, prompt_ids, 8)  # warm-up: first calls pay one-off costs
    run_trace(loaded, 8)

    watches: dict[str, list[Stopwatch]] = {"generate": [], "trace": []}
    for repeat in range(args.repeats):
        pair = [("generate", lambda: run_generate(loaded, prompt_ids, args.tokens))]
        pair.append(("trace", lambda: run_trace(loaded, args.tokens)[0]))
        for name, run in pair if repeat % 2 == 0 else pair[::-1]:
            watch = run()
            watches[name].append(watch)
            say(f"repeat {repeat}: {name} {watch.wall:.3f} s wall, {watch.cpu:.3f} s CPU")
    generate_times = [w.wall for w in watches["generate"]]
    trace_times = [w.wall for w in watches["trace"]]
    cpu_median = {name: statistics.median(w.cpu for w in ws) for name, ws in watches.items()}
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
        "cpu_ratio": round(cpu_median["trace"] / cpu_median["generate"], 4),
        "memory": {f"trace_{args.tokens}": trace_memory(short_trace)},
    }
    del short_trace

    result["step_ms"] = {str(c): step_times(loaded, c, args.step_tokens) for c in CONTEXTS}
    if args.long_tokens:
        _, long_trace = run_trace(loaded, args.long_tokens)
        result["memory"][f"trace_{args.long_tokens}"] = trace_memory(long_trace)
        del long_trace
    say(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
