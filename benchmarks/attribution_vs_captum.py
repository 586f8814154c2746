"""Our attributions against Captum's LLM wrappers: same model, prompt, targets and settings, timed in one run.

What is compared: a fixed chat prompt and the model's 32-token greedy answer (``model.generate``). For every
answer token t, the attribution of log p(token t | everything before it) to every earlier token, prompt and
earlier answer tokens alike, by Integrated Gradients (embedding layer, Gauss-Legendre, ``--n-steps``) and by
Feature Ablation (baseline token: the tokenizer's unk, Captum's default id 0 here).

- Captum, as its user would get exactly these numbers: per answer token, ``LLMGradientAttribution(
  LayerIntegratedGradients(model, embeddings))`` and ``LLMAttribution(FeatureAblation(model))`` (with
  ``forward_in_tokens=False``) on a ``TextTokenInput`` of that token's whole prefix, target = the token.
  Captum's wrappers attribute a multi-token target only to the prompt, so the whole prefix needs one call
  per token. Captum is slow, so by default it runs on ``--captum-moments`` evenly spread moments and its time
  for all moments is extrapolated with its cost model (IG ~ prefix length, ablation ~ prefix length squared);
  ``--captum-moments 32`` runs them all. The JSON says which.
- Ours: ``attribute_positions`` over all 32 moments at once (one call per method).

Both sides run with the same torch thread count (``--threads``, default 1: on a shared CPU, OpenMP threads
waiting on each other make multi-threaded timings erratic) and are timed by this process's CPU time, which
leaves out the time other processes hold the cores; wall-clock speedups are reported too. The last stdout line is JSON: ``speedup_ig``,
``speedup_ablation`` (Captum seconds / ours for the same outputs), ``max_rel_diff`` (max|ours - Captum| /
max|Captum| over the compared moments, worst of the two methods), and ``one_moment_ig_seconds`` (one
moment's IG, 32 steps, 100-token prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.smoke import parse_args  # noqa: E402

PROMPT = "Explain in two sentences why the sky is blue."
ANSWER_TOKENS = 32


def greedy_answer(loaded, prompt: str, tokens: int) -> tuple[list[int], int]:
    tokenizer = loaded.tokenizer
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    prompt_ids = tokenizer.encode(text)
    with loaded.lock, torch.no_grad():
        out = loaded.model.generate(
            torch.tensor([prompt_ids]), max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False
        )
    return out[0].tolist(), len(prompt_ids)


def spread(count: int, total: int) -> list[int]:
    """``count`` moment indices spread evenly over ``total`` (all of them when count >= total)."""
    if count >= total:
        return list(range(total))
    return sorted({int(round(x)) for x in np.linspace(0, total - 1, count)})


class Clock:
    """Sums wall time and this process's CPU time. With one torch thread, CPU time is the work done and does
    not count the time other processes hold the shared cores, so it is the fairer comparison here."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def run(self, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        return value


def run(args) -> dict:
    from model_zoo import load_model
    from tracing.inspection.attribution import AttributionSettings, attribute_position, attribute_positions
    from tracing.inspection.attribution.captum_reference import captum_feature_ablation, captum_integrated_gradients

    torch.set_num_threads(args.threads)
    loaded = load_model("smollm2-135m-instruct", device="cpu")
    ids, prompt_length = greedy_answer(loaded, PROMPT, args.answer_tokens)
    positions = list(range(prompt_length, len(ids)))
    settings = AttributionSettings(n_steps=args.n_steps)
    captum_rows = spread(args.captum_moments, len(positions))

    clocks = {name: Clock() for name in ("ours_ig", "ours_fa", "captum_ig", "captum_fa", "one")}
    ours_ig = clocks["ours_ig"].run(
        lambda: attribute_positions(loaded, ids, positions, method="integrated_gradients", settings=settings)
    )
    ours_fa = clocks["ours_fa"].run(
        lambda: attribute_positions(loaded, ids, positions, method="feature_ablation", settings=settings)
    )
    baseline = ours_ig.settings.baseline_id

    ig_diff, ig_ref, fa_diff, fa_ref = [], [], [], []
    for row in captum_rows:
        position = positions[row]
        reference = clocks["captum_ig"].run(
            lambda p=position: captum_integrated_gradients(
                loaded, ids[:p], [ids[p]], n_steps=args.n_steps, baseline_id=baseline
            )[0]
        )
        ig_diff.append(np.abs(ours_ig.scores[row, :position] - reference).max())
        ig_ref.append(np.abs(reference).max())
        reference = clocks["captum_fa"].run(
            lambda p=position: captum_feature_ablation(loaded, ids[:p], [ids[p]], baseline_id=baseline)[0]
        )
        fa_diff.append(np.abs(ours_fa.scores[row, :position] - reference).max())
        fa_ref.append(np.abs(reference).max())

    # Captum's cost per moment: IG ~ steps x prefix length; ablation ~ (prefix + 1) passes of (prefix + 1) tokens.
    all_positions = np.asarray(positions, dtype=np.float64)
    ran = all_positions[captum_rows]
    scale = {
        "captum_ig": all_positions.sum() / ran.sum(),
        "captum_fa": ((all_positions + 1) ** 2).sum() / ((ran + 1) ** 2).sum(),
    }

    long_ids = (ids * 4)[:101]
    one = clocks["one"].run(
        lambda: attribute_position(loaded, long_ids, 100, settings=AttributionSettings(n_steps=args.one_moment_steps))
    )

    def seconds(name: str, kind: str) -> float:
        return getattr(clocks[name], kind) * scale.get(name, 1.0)

    rel_ig = float(max(ig_diff) / max(ig_ref))
    rel_fa = float(max(fa_diff) / max(fa_ref))
    return {
        "model": loaded.id,
        "device": "cpu",
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "prompt_tokens": prompt_length,
        "answer_tokens": len(positions),
        "attributed_to": "whole prefix (prompt + earlier answer tokens)",
        "n_steps": args.n_steps,
        "ig_method": "gausslegendre",
        "baseline_id": baseline,
        "captum_moments_run": len(captum_rows),
        "captum_seconds_extrapolated": len(captum_rows) < len(positions),
        "timer": "process CPU time, one torch thread (wall time swings with other load on the shared CPU)",
        "captum_ig_seconds": round(seconds("captum_ig", "cpu"), 3),
        "captum_ablation_seconds": round(seconds("captum_fa", "cpu"), 3),
        "ours_ig_seconds": round(seconds("ours_ig", "cpu"), 3),
        "ours_ablation_seconds": round(seconds("ours_fa", "cpu"), 3),
        "speedup_ig": round(seconds("captum_ig", "cpu") / seconds("ours_ig", "cpu"), 2),
        "speedup_ablation": round(seconds("captum_fa", "cpu") / seconds("ours_fa", "cpu"), 2),
        "speedup_ig_wall": round(seconds("captum_ig", "wall") / seconds("ours_ig", "wall"), 2),
        "speedup_ablation_wall": round(seconds("captum_fa", "wall") / seconds("ours_fa", "wall"), 2),
        "captum_seconds_measured_wall": round(clocks["captum_ig"].wall + clocks["captum_fa"].wall, 3),
        "rel_diff_ig": rel_ig,
        "rel_diff_ablation": rel_fa,
        "max_rel_diff": max(rel_ig, rel_fa),
        "one_moment_ig_seconds": round(clocks["one"].cpu, 3),
        "one_moment_ig_seconds_wall": round(clocks["one"].wall, 3),
        "one_moment_ig_setup": f"{args.one_moment_steps} steps, 100-token prefix, one target",
        "one_moment_ig_abs_delta": abs(float(one.delta)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--n-steps", type=int, default=8, help="Integrated Gradients steps (both sides)")
    parser.add_argument("--captum-moments", type=int, default=3, help="moments Captum runs (32 = all)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    parser.add_argument("--answer-tokens", type=int, default=ANSWER_TOKENS, help="greedy answer tokens attributed")
    parser.add_argument("--one-moment-steps", type=int, default=32, help="IG steps of the one-moment figure")
    args = parse_args(parser, n_steps=2, captum_moments=1, answer_tokens=4, one_moment_steps=2)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args)
    if not args.json:
        for key, value in result.items():
            print(f"{key:>34}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
