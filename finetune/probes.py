"""One moment through training: at every checkpoint, each probe's reference answer is teacher-forced through
the model being trained, and every moment (every reference token) is described as a decoded moment is.

The numbers come from the trace engine's own functions (``tracing.core.teacher_forcing.forced_pass`` and
``tracing.core.distribution.describe_step``), so a probe's moment at a checkpoint means exactly what the
same moment means on the Trace page, where its trace, saved beside the checkpoint's adapter, can be opened.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from finetune.encoding import prompt_text, response_text
from model_zoo.seam import attention_implementation, base_module
from tracing.core.decode import trace_info
from tracing.core.distribution import describe_step, step_moment
from tracing.core.sampling import forced_choice
from tracing.core.teacher_forcing import forced_pass
from tracing.core.tokens import readable_tokens
from tracing.core.trace import DecodingSettings, Trace

PROBE_TOP_K = 5
SETTINGS = DecodingSettings(record_top_k=PROBE_TOP_K)


def probe_trace_path(checkpoint: str | Path, probe: int) -> Path:
    return Path(checkpoint) / f"probe-{probe}.trace.safetensors"


@dataclass
class _ModelView:
    """What the trace engine reads from a loaded model, for the model being trained."""

    model: torch.nn.Module
    tokenizer: object
    model_id: str
    adapter: str
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def architecture(self) -> str | None:
        return getattr(self.model.config, "model_type", None)


def _ids(example: dict, tokenizer) -> tuple[list[int], list[int]]:
    prompt = tokenizer(prompt_text(example, tokenizer), add_special_tokens=False)["input_ids"]
    reference = tokenizer(response_text(example, tokenizer), add_special_tokens=False)["input_ids"]
    return prompt, reference


@torch.no_grad()
def read_probes(
    model, tokenizer, examples: list[dict], *, model_id: str, adapter: str, step: int
) -> tuple[list[dict], list[Trace]]:
    """Per probe and moment ``{probe, moment, token_id, token, prob, rank, entropy, top}`` (``top``: the
    top-k as ``[token, probability]`` pairs) and each probe's trace (with attention rows, so the Trace page
    can show every panel). The model runs in eval mode with eager attention, then goes back as it was."""
    base = base_module(model)
    was_training, implementation = model.training, attention_implementation(base)
    model.eval()
    if implementation != "eager" and hasattr(base, "set_attn_implementation"):
        base.set_attn_implementation("eager")  # the only implementation that returns attention weights
    view = _ModelView(model, tokenizer, model_id, adapter)
    readings, traces = [], []
    try:
        for probe, example in enumerate(examples):
            prompt_ids, reference_ids = _ids(example, tokenizer)
            forced = forced_pass(view, prompt_ids + reference_ids, len(prompt_ids), attention=True)
            moments = []
            for moment, (logits, token_id) in enumerate(zip(forced.logits, reference_ids, strict=True)):
                stats = describe_step(logits, SETTINGS, forced_choice(logits, SETTINGS, token_id))
                attention = None if forced.attention is None else forced.attention[moment]
                moments.append(step_moment(tokenizer, moment, stats, attention, forced.seconds / len(reference_ids)))
                top = [[t, float(p)] for t, p in zip(moments[-1].top_tokens, stats.top_probs, strict=True)]
                readings.append(
                    dict(
                        probe=probe,
                        moment=moment,
                        token_id=stats.token_id,
                        token=moments[-1].token,
                        prob=stats.prob,
                        rank=stats.rank,
                        entropy=stats.entropy,
                        top=top,
                    )
                )
            traces.append(_trace(view, example, prompt_ids, reference_ids, moments, forced.seconds, step))
    finally:
        if implementation != "eager" and hasattr(base, "set_attn_implementation"):
            base.set_attn_implementation(implementation)
        model.train(was_training)
    return readings, traces


def _trace(view: _ModelView, example, prompt_ids, reference_ids, moments, seconds: float, step: int) -> Trace:
    tokenizer = view.tokenizer
    return Trace(
        model_id=view.model_id,
        adapter=view.adapter,
        prompt=example.get("prompt") or prompt_text(example, tokenizer),
        rendered_prompt=prompt_text(example, tokenizer),
        prompt_ids=list(prompt_ids),
        prompt_tokens=readable_tokens(tokenizer, prompt_ids),
        settings=DecodingSettings(max_new_tokens=len(reference_ids), record_top_k=PROBE_TOP_K),
        moments=moments,
        stop_reason="teacher-forced reference",
        text=tokenizer.decode(reference_ids, skip_special_tokens=True),
        prefill_seconds=seconds,
        info=trace_info(view, None) | {"teacher_forced_on": "reference answer", "training_step": step},
    )


def saved_probe_trace(checkpoint_dir: str | Path, step: int, probe: int) -> Trace:
    """The trace of probe ``probe`` read at checkpoint ``step``; ValueError naming what is missing."""
    from finetune.checkpoints import checkpoint_folder
    from tracing.core.trace import load_trace

    path = probe_trace_path(checkpoint_folder(checkpoint_dir, step), probe)
    if not path.exists():
        raise ValueError(f"no trace of probe {probe} at step {step} (checkpoints are in {checkpoint_dir})")
    return load_trace(path)
