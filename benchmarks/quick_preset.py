"""The quick preset on the bundled addition sample, as the Fine-tune page launches it: seconds of training and
held-out exact match of the final answer (base and tuned), one in-process run on the CPU.

Goal: >= 95% exact match on the 40 held-out sums with <= 120 s of training on a 2-core CPU.

    python benchmarks/quick_preset.py --json        # last stdout line: the JSON result
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the training processes do; before torch loads
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.smoke import parse_args  # noqa: E402
from finetune.config import PRESETS, preset  # noqa: E402
from finetune.sample_data import sample_path  # noqa: E402
from finetune.train import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--steps", type=int, default=0, help="training steps (default: the preset's)")
    parser.add_argument("--heldout", type=int, default=0, help="held-out sums scored (default: the preset's)")
    args = parse_args(parser, steps=2, heldout=2)
    sizes = {"max_steps": args.steps} if args.steps else {}
    sizes |= {"test_limit": args.heldout, "sample_count": 0} if args.heldout else {}
    with tempfile.TemporaryDirectory() as folder:
        config = preset(
            "quick",
            train_file=str(sample_path("train")),
            test_file=str(sample_path("test")),
            device="cpu",
            name="quick-preset-benchmark",
            checkpoint_dir=str(Path(folder) / "checkpoints"),
            **sizes,
        )
        started = time.perf_counter()
        result = train(config)
        job_seconds = time.perf_counter() - started
    out = {
        "preset": PRESETS["quick"]["settings"],
        "trains_in_bfloat16": config.trains_in_bfloat16("cpu"),  # "auto": where the CPU has native bfloat16
        "steps": result["steps"],
        "train_seconds": round(result["train_seconds"], 1),
        "job_seconds": round(job_seconds, 1),
        "tokens_per_second": round(result["tokens_per_second"], 1),
        "heldout": result["tuned"]["n"],
        "base_exact_match": result["base"]["exact_match"],
        "tuned_exact_match": result["tuned"]["exact_match"],
        "goal_met": result["tuned"]["exact_match"] >= 0.95 and result["train_seconds"] <= 120,
    }
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
