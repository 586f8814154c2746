"""Measuring a tuned lens against the logit lens on held-out text: per layer, the KL divergence from the
model's output distribution and the top-1 agreement with it, both lenses read from the same forward."""

from __future__ import annotations

import torch

from tracing.inspection.logit_lens import lens_logits
from tracing.inspection.tuned_lens.lens import TunedLens
from tracing.inspection.tuned_lens.report import LensReport
from tracing.inspection.tuned_lens.training import final_and_states, kl_from_final


def lens_report(loaded, lens: TunedLens, chunks: list[list[int]]) -> LensReport:
    """Both lenses at every layer over every position of ``chunks``."""
    if not chunks:
        raise ValueError("No held-out text to measure the lens on.")
    rows = lens.num_layers + 1
    sums = {name: [0.0] * rows for name in ("logit_kl", "tuned_kl", "logit_top1", "tuned_top1")}
    positions = 0
    with torch.no_grad():
        for chunk in chunks:
            final, states = final_and_states(loaded, chunk)
            top = final.argmax(-1)
            for row in range(rows):
                for name, state in (("logit", states[row]), ("tuned", lens.translate_row(row, states[row]))):
                    log_probs = lens_logits(loaded, state).float().log_softmax(-1)
                    sums[f"{name}_kl"][row] += float(kl_from_final(final, log_probs).sum())
                    sums[f"{name}_top1"][row] += float((log_probs.argmax(-1) == top).sum())
            positions += len(chunk)
    means = {name: [value / positions for value in values] for name, values in sums.items()}
    names = ["embeddings"] + [f"layer {i}" for i in range(1, rows)]
    return LensReport(loaded.identity.name, names, tokens=positions, trained=dict(lens.trained), **means)
