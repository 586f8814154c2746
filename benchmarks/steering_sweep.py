"""A steering strength sweep: ours against a loop of hooked ``generate`` calls.

A vector is made on the offline chat model from two prompt lists (the difference of their mean activations
at ``--layer``); a greedy trace of a prompt is continued from moment 0 for ``--tokens`` tokens under each of
``--strengths`` (0 included):

- ours (`tracing.inspection.steering.sweep.steering_sweep`): every strength a row of one batch, one forward
  per step for all of them, the vector added by a hook through the family description;
- the loop, as a user of transformers writes it: per strength, a forward hook on that layer adding the
  scaled vector from the prompt's last position on, and one ``generate(do_sample=False)`` call.

Both run in this process with the same threads, ours before and after the loop (the median of three). The
last stdout line is JSON: ``speedup`` = loop seconds / ours, ``tokens_agree`` the share of chosen tokens
the two agree on, and the vector's norm.

    python benchmarks/steering_sweep.py --json
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
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from model_zoo import default_entry, load_model  # noqa: E402
from tracing.core.decode import trace_generation  # noqa: E402
from tracing.core.trace import DecodingSettings  # noqa: E402
from tracing.inspection.steering.apply import Steering  # noqa: E402
from tracing.inspection.steering.make import contrast_vector  # noqa: E402
from tracing.inspection.steering.sweep import steering_sweep, sweep_strengths  # noqa: E402

POSITIVE = ["I love this, it is wonderful.", "What a happy, joyful day!", "Everything went great today."]
NEGATIVE = ["I hate this, it is awful.", "What a sad, miserable day!", "Everything went wrong today."]
PROMPT = "Write one sentence about your weekend."


def generate_loop(loaded, prefix: list[int], vector: torch.Tensor, layer: int, strengths, tokens: int):
    """Per strength: a hook on the layer's output (the prompt's last position on) and one greedy generate."""
    ids = torch.tensor([prefix], device=loaded.device)
    start = len(prefix) - 1
    found = []
    for strength in strengths:

        def add(_module, _args, output, strength=strength):
            hidden = output[0] if isinstance(output, tuple) else output
            at = start if hidden.shape[1] > 1 else 0  # the prefill, then one new position a step
            hidden = hidden.clone()
            hidden[:, at:] += strength * vector
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        handle = loaded.layout.layers(loaded.base_model)[layer].register_forward_hook(add)
        try:
            with torch.inference_mode(), loaded.lock:
                out = loaded.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                                            min_new_tokens=tokens, do_sample=False, pad_token_id=0)  # fmt: skip
        finally:
            handle.remove()
        found.append(out[0, len(prefix) :].tolist())
    return found


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--layer", type=int, default=12, help="the layer read and steered (default 12)")
    parser.add_argument("--strengths", default="-16,-8,-4,4,8,16", help="comma-separated (0 is added)")
    parser.add_argument("--tokens", type=int, default=16, help="continuation length (default 16)")
    args = parse_args(parser, argv, tokens=2, strengths="4")
    say = (lambda *a: None) if args.json else print
    loaded = load_model(default_entry().id)
    made = contrast_vector(loaded, "joy", POSITIVE, NEGATIVE, args.layer)
    strengths = sweep_strengths(float(s) for s in args.strengths.split(","))
    trace = trace_generation(loaded, PROMPT, DecodingSettings(max_new_tokens=1))
    steering = Steering(made, 1.0)

    def ours():
        return steering_sweep(loaded, trace, 0, steering, strengths, args.tokens)

    ours()  # warm-up
    ours_times = []
    seconds, sweep = timed(ours)
    ours_times.append(seconds)
    say(f"ours: {seconds:.2f} s")
    vector = torch.as_tensor(made.vector, dtype=loaded.dtype, device=loaded.device)
    prefix = trace.prompt_ids
    loop_seconds, loop_tokens = timed(lambda: generate_loop(loaded, prefix, vector, args.layer, strengths, args.tokens))
    say(f"generate loop: {loop_seconds:.2f} s")
    for _ in range(2):
        ours_times.append(timed(ours)[0])
    median = statistics.median(ours_times)
    pairs = [(a, b) for row, theirs in zip(sweep.token_ids.tolist(), loop_tokens, strict=True)
             for a, b in zip(row, theirs, strict=True)]  # fmt: skip
    result = {
        "model": loaded.id,
        "device": str(loaded.device),
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "vector_norm": round(made.norm, 4),
        "layer": args.layer,
        "strengths": strengths,
        "tokens": args.tokens,
        "ours_seconds": [round(t, 3) for t in ours_times],
        "ours_median_s": round(median, 3),
        "generate_loop_s": round(loop_seconds, 3),
        "speedup": round(loop_seconds / median, 2),
        "tokens_agree": round(sum(a == b for a, b in pairs) / len(pairs), 4),
        "first_departures": sweep.first_departures(),
        "smoke": bool(args.smoke),
    }
    say(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
