"""Held-out evaluation: loss, and for generative tasks exact match of the final answer; accuracy for classifiers.

The exact-match rule: when the reference ends in ``Answer: N`` (the bundled addition task), the generated
text must give the same final answer: its last ``Answer: N``, or, for a model that never learnt that format
(the base model), its last number. Otherwise the whole stripped response must match (`datafiles.answers`).
"""

from __future__ import annotations

import time

import torch

from datafiles.answers import final_answer, is_exact_match
from finetune.config import GENERATION_BATCH
from finetune.encoding import encode_causal, encode_classification, prompt_text
from finetune.training_batches import COLLATORS, LOSSES
from model_zoo.kinds import ENCODER

__all__ = ["evaluate_heldout", "final_answer", "generate", "is_exact_match", "mean_loss"]


@torch.no_grad()
def mean_loss(model, tokenizer, examples: list[dict], task: str, *, max_length: int, labels=None, batch_size=16):
    """Token-weighted (causal LM) or example-weighted (classification) mean loss over ``examples``."""
    if not examples:
        return None
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if task == ENCODER.finetune_task:
        encoded = [encode_classification(e, tokenizer, max_length, labels) for e in examples]
    else:
        encoded = [encode_causal(e, tokenizer, max_length) for e in examples]
    total, count = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        batch = COLLATORS[task](encoded[start : start + batch_size], pad_id)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        loss, n = LOSSES[task](model, batch)
        total += float(loss) * n
        count += n
    model.train(was_training)
    return total / max(count, 1)


@torch.no_grad()
def generate(
    model, tokenizer, examples: list[dict], *, max_new_tokens: int = 64, batch_size: int = GENERATION_BATCH
) -> list[str]:
    """Greedy continuations of each example's prompt (chat template applied), left-padded in batches."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outputs = []
    try:
        for start in range(0, len(examples), batch_size):
            prompts = [prompt_text(e, tokenizer) for e in examples[start : start + batch_size]]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            ids = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new = ids[:, enc["input_ids"].shape[1] :]
            outputs += tokenizer.batch_decode(new, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return outputs


def prompt_of(example: dict) -> str:
    """The question as a person would read it: the prompt, or the last user message of a chat."""
    if "messages" in example:
        return next((m["content"] for m in reversed(example["messages"]) if m["role"] == "user"), "")
    return example.get("prompt", example.get("text", ""))


def reference_of(example: dict) -> str:
    return example["messages"][-1]["content"] if "messages" in example else example.get("response", "")


@torch.no_grad()
def evaluate_heldout(
    model, tokenizer, examples: list[dict], task: str, *, max_length: int, labels=None, max_new_tokens: int = 64
) -> dict:
    """``{"loss", "n", "seconds"}`` plus ``exact_match`` (generative) or ``accuracy`` (classification)."""
    start = time.perf_counter()
    result = {"n": len(examples)}
    result["loss"] = mean_loss(model, tokenizer, examples, task, max_length=max_length, labels=labels)
    if task == ENCODER.finetune_task:
        device = next(model.parameters()).device
        correct = 0
        for example in examples:
            enc = tokenizer(example["text"], truncation=True, max_length=max_length, return_tensors="pt").to(device)
            correct += labels[int(model(**enc).logits.argmax(-1))] == example["label"]
        result["accuracy"] = correct / max(len(examples), 1)
    elif examples and all(("response" in e or "messages" in e) for e in examples):
        generated = generate(model, tokenizer, examples, max_new_tokens=max_new_tokens)
        hits = [is_exact_match(g, reference_of(e)) for g, e in zip(generated, examples, strict=True)]
        result["exact_match"] = sum(hits) / len(hits)
        result["examples"] = [
            {"prompt": prompt_of(e), "output": g, "reference": reference_of(e), "match": h}
            for e, g, h in zip(examples[:10], generated, hits, strict=False)
        ]
    result["seconds"] = time.perf_counter() - start
    return result
