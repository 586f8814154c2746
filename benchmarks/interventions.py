"""A sweep that ablates every head at one moment: ours against a plain loop of hooked full forwards.

The moment follows a ``--prefix``-token text (100 by default) on the offline chat model; its token is the
model's own next choice there. Every head (30 layers x 9 heads) is zero-ablated alone at the moment's
position and log p of that token read:

- ours (`tracing.inspection.interventions.ablation.sweep_position`): the prefix read once into a KV cache,
  then only the moment's position recomputed per head, up to 32 heads as the rows of one forward; also
  with one head per forward (``ours_one_per_forward_s``: the cache alone);
- the plain loop, as a TransformerLens user writes it: per head, a hook that zeros that head's slice of
  ``o_proj``'s input at the last position, and one full forward over the whole prefix.

Both run in this process with the same threads, ours before and after the loop (the median of three), so
background load hits both alike. The last stdout line is JSON: ``sweep_speedup`` = loop seconds / ours,
``max_abs_diff`` the largest difference of the 270 log-probabilities between the two.

    python benchmarks/interventions.py --json
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
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as make sets it: spinning threads starve a busy CPU

import torch  # noqa: E402

from model_zoo import default_entry, load_model  # noqa: E402
from tracing.inspection.interventions.ablation import sweep_position  # noqa: E402

TEXT = (
    "The lighthouse keeper climbed the narrow stairs every evening to light the great lamp. For forty years "
    "he had watched the ships pass the rocks below, counting their lights and writing their names in a "
    "worn leather book. One stormy night in November, a small boat appeared without any light at all, and "
    "he saw a figure waving from its deck. He ran down to the shore with a lantern and a coil of rope, "
    "knowing that the tide would turn within the hour and the rocks would be covered by the sea."
)


def plain_loop(loaded, prefix: list[int], target: int) -> list[float]:
    """One hooked full forward per head: zero that head's slice of o_proj's input at the last position."""
    config = loaded.model.config
    heads, layers = config.num_attention_heads, config.num_hidden_layers
    width = config.hidden_size // heads
    ids = torch.tensor([prefix], device=loaded.device)
    found = []
    with torch.inference_mode(), loaded.lock:
        for layer in range(layers):
            projection = loaded.base_model.model.layers[layer].self_attn.o_proj
            for head in range(heads):

                def zero(_module, args, head=head):
                    z = args[0].clone()
                    z[:, -1, head * width : (head + 1) * width] = 0
                    return (z,)

                handle = projection.register_forward_pre_hook(zero)
                try:
                    logits = loaded.model(input_ids=ids, use_cache=False).logits[0, -1]
                finally:
                    handle.remove()
                found.append(float(torch.log_softmax(logits.float(), -1)[target]))
    return found


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--prefix", type=int, default=100, help="tokens before the moment (default 100)")
    args = parse_args(parser, argv, prefix=8)
    say = (lambda *a: None) if args.json else print
    loaded = load_model(default_entry().id)
    ids = loaded.tokenizer(TEXT)["input_ids"]
    if len(ids) < args.prefix:
        raise SystemExit(f"the benchmark text has {len(ids)} tokens, fewer than --prefix {args.prefix}")
    prefix = [int(i) for i in ids[: args.prefix]]
    with torch.inference_mode():
        target = int(loaded.model(input_ids=torch.tensor([prefix], device=loaded.device)).logits[0, -1].argmax())

    def ours(rows: int = 32):
        return sweep_position(loaded, prefix, target, mlps=False, most_rows=rows)[1]

    clean = sweep_position(loaded, prefix, target, mlps=False)[0]

    ours()  # warm-up: first-call allocations
    ours_times = []
    seconds, ours_values = timed(ours)
    ours_times.append(seconds)
    say(f"ours: {seconds:.2f} s")
    loop_seconds, loop_values = timed(lambda: plain_loop(loaded, prefix, target))
    say(f"plain loop: {loop_seconds:.2f} s")
    for _ in range(2):
        ours_times.append(timed(ours)[0])
    one_seconds, one_values = timed(lambda: ours(rows=1))
    ours_median = statistics.median(ours_times)
    differences = [abs(a - b) for a, b in zip(ours_values.tolist(), loop_values, strict=True)]
    result = {
        "model": loaded.id,
        "device": str(loaded.device),
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "prefix_tokens": len(prefix),
        "heads_ablated": len(loop_values),
        "ours_seconds": [round(t, 3) for t in ours_times],
        "ours_median_s": round(ours_median, 3),
        "ours_one_per_forward_s": round(one_seconds, 3),
        "plain_loop_s": round(loop_seconds, 3),
        "sweep_speedup": round(loop_seconds / ours_median, 2),
        "cache_only_speedup": round(loop_seconds / one_seconds, 2),
        "max_abs_diff": float(f"{max(differences):.3g}"),
        "max_abs_diff_one_per_forward": float(
            f"{max(abs(a - b) for a, b in zip(one_values.tolist(), loop_values, strict=True)):.3g}"
        ),
        "largest_change": round(max(abs(v - clean) for v in loop_values), 4),  # the sweep finds something
    }
    say(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
