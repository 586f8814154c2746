"""Traces of the offline chat model, made once per test session, and the teacher-forced reference."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings, Trace

GREEDY_PROMPT = "Name three colours."
SAMPLED_SETTINGS = DecodingSettings(max_new_tokens=8, do_sample=True, temperature=0.9, top_k=40, top_p=0.9, seed=7)


@dataclass
class Reference:
    """One teacher-forced forward pass over prompt + generated: row i of each array is moment i's."""

    logits: torch.Tensor  # float32 [moments, vocab]
    attentions: list[torch.Tensor]  # per layer [heads, queries, keys] over the whole sequence


def teacher_forced(loaded, trace: Trace) -> Reference:
    ids = torch.tensor([trace.all_ids], device=loaded.device)
    with torch.inference_mode():
        out = loaded.model(input_ids=ids, output_attentions=True, use_cache=False)
    first = trace.prompt_len - 1  # the last prompt position predicts moment 0
    rows = slice(first, first + len(trace.moments))
    return Reference(out.logits[0, rows].float(), [a[0].float() for a in out.attentions])


@pytest.fixture(scope="session")
def greedy_trace(smollm) -> Trace:
    return trace_generation(smollm, GREEDY_PROMPT, DecodingSettings(max_new_tokens=12))


@pytest.fixture(scope="session")
def sampled_trace(smollm) -> Trace:
    return trace_generation(smollm, "Tell me about the sea.", SAMPLED_SETTINGS)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``python -m tracing ARGV`` in this process: exit code, stdout, stderr."""
    from tracing import cli

    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def offline_model(monkeypatch, smollm):
    """The CLI's model loader hands back the session's model instead of loading it again."""
    from tracing.cli import options

    monkeypatch.setattr(options, "load_model", lambda model_id, device: smollm)
