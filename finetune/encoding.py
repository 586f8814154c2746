"""Turning mapped examples into token ids: the chat template for causal LM tuning, loss on the response only.

An encoded example is ``(input_ids, labels)``: for causal LM, ``labels`` copies the response tokens and holds
-100 (ignored) on the prompt; for classification, ``labels`` is the class index.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

IGNORE = -100


def _chat(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_text(example: dict, tokenizer) -> str:
    """What the model is shown before it answers: the chat-templated prompt, ready for generation."""
    if "messages" in example:
        return tokenizer.apply_chat_template(example["messages"][:-1], add_generation_prompt=True, tokenize=False)
    if _chat(tokenizer):
        messages = [{"role": "user", "content": example["prompt"]}]
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return example["prompt"] + "\n"


def response_text(example: dict, tokenizer) -> str:
    """The target text, ended the way the model ends its turn (the end-of-turn/eos token)."""
    answer = example["messages"][-1]["content"] if "messages" in example else example["response"]
    return answer + (tokenizer.eos_token or "")


def encode_causal(example: dict, tokenizer, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; prompts are never trained on. Over-long examples are cut at ``max_length``."""
    if "text" in example:
        ids = tokenizer(example["text"] + (tokenizer.eos_token or ""), add_special_tokens=True)["input_ids"]
        ids = ids[:max_length]
        return ids, list(ids)
    prompt = tokenizer(prompt_text(example, tokenizer), add_special_tokens=False)["input_ids"]
    response = tokenizer(response_text(example, tokenizer), add_special_tokens=False)["input_ids"]
    ids = (prompt + response)[:max_length]
    labels = ([IGNORE] * len(prompt) + response)[:max_length]
    return ids, labels


def encode_classification(example: dict, tokenizer, max_length: int, labels: list[str]) -> tuple[list[int], int]:
    ids = tokenizer(example["text"], truncation=True, max_length=max_length)["input_ids"]
    return ids, labels.index(example["label"])


def full_length(example: dict, tokenizer) -> int:
    """Untruncated token count of one example as it would be trained."""
    if "label" in example:
        return len(tokenizer(example["text"])["input_ids"])
    ids, _ = encode_causal(example, tokenizer, max_length=1 << 30)
    return len(ids)


@dataclass(frozen=True)
class LengthStats:
    count: int
    min: int
    median: float
    p95: int
    max: int
    total: int
    over_max_length: int

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def length_stats(lengths: list[int], max_length: int) -> LengthStats:
    ordered = sorted(lengths) or [0]
    return LengthStats(
        count=len(lengths),
        min=ordered[0],
        median=float(statistics.median(ordered)),
        p95=ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        max=ordered[-1],
        total=sum(lengths),
        over_max_length=sum(n > max_length for n in lengths),
    )
