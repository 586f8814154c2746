"""Tuned-lens training speed on the offline chat model: tokens a second of `train_lens` (every layer's
translator, one chunk a step, KL to the model's own output), and the held-out KL before and after.

The text is this repository's README, cut into ``--chunk``-token chunks; the last tenth is held out, of
which ``--heldout`` chunks are measured with both lenses. The last stdout line is JSON: ``tokens_per_s``,
``seconds_per_step`` and, per layer, the logit lens's and the tuned lens's held-out KL (``lowered_everywhere``
says whether training lowered it at every layer but the last).

    python benchmarks/tuned_lens_training.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.smoke import parse_args  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from model_zoo import default_entry, load_model  # noqa: E402
from tracing.inspection.tuned_lens.data import split_heldout, token_chunks  # noqa: E402
from tracing.inspection.tuned_lens.evaluate import lens_report  # noqa: E402
from tracing.inspection.tuned_lens.lens import new_lens  # noqa: E402
from tracing.inspection.tuned_lens.training import lens_optimizer, train_lens  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--steps", type=int, default=12, help="training steps (default 12)")
    parser.add_argument("--chunk", type=int, default=32, help="tokens a step (default 32)")
    parser.add_argument("--heldout", type=int, default=8, help="held-out chunks measured (default 8)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's step size (default 1e-3)")
    args = parse_args(parser, argv, steps=1, chunk=8, heldout=1)
    say = (lambda *a: None) if args.json else print
    loaded = load_model(default_entry().id)
    text = (REPO / "README.md").read_text(encoding="utf-8")
    train, heldout = split_heldout(token_chunks(loaded.tokenizer, [text], args.chunk), 0.1)
    lens = new_lens(loaded)
    optimizer = lens_optimizer(lens, args.lr)
    started = time.perf_counter()
    train_lens(loaded, lens, optimizer, train, args.steps, on_step=lambda r: say(f"step {r.step}: KL {r.loss:.3f}"))
    seconds = time.perf_counter() - started
    report = lens_report(loaded, lens, heldout[: args.heldout])
    result = {
        "model": loaded.id,
        "device": str(loaded.device),
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "layers": loaded.num_layers,
        "steps": args.steps,
        "chunk": args.chunk,
        "train_seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / args.steps, 2),
        "tokens_per_s": round(args.steps * args.chunk / seconds, 2),
        "heldout_tokens": report.tokens,
        "logit_kl": [round(v, 3) for v in report.logit_kl],
        "tuned_kl": [round(v, 3) for v in report.tuned_kl],
        "logit_top1": [round(v, 3) for v in report.logit_top1],
        "tuned_top1": [round(v, 3) for v in report.tuned_top1],
        "lowered_everywhere": report.lowered_everywhere(),
        "smoke": bool(args.smoke),
    }
    say(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
