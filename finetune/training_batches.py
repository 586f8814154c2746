"""Batches that waste no compute on padding. Causal LM training packs each random batch into one row (no
padding at all, and no attention across examples) and runs the head only where a label is; evaluation and
classification group examples by length, each batch padded only to its own longest member.

Length grouping follows the usual recipe: shuffle, cut into mega-batches of ``group`` batches, sort each
mega-batch by length, cut it into batches, shuffle the batch order. Each example stays in its own row, so
there is no attention across examples.
"""

from __future__ import annotations

import random

import torch

from finetune.encoding import IGNORE
from model_zoo.kinds import CAUSAL_LM, ENCODER


def length_grouped_batches(
    lengths: list[int], batch_size: int, *, seed: int, group: int = 64, drop_last: bool = False
) -> list[list[int]]:
    """Index batches of similar lengths, in a seeded random order."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    size = batch_size * group
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if drop_last and len(batches) > 1:
        batches = [b for b in batches if len(b) == batch_size] or batches
    rng.shuffle(batches)
    return batches


def collate_causal(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask and labels, plus ``logits_from``: the first position whose next token
    is trained, so the model's head runs only where the loss needs it."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    trained = (labels[:, 1:] != IGNORE).any(dim=0).nonzero()
    logits_from = int(trained[0]) if len(trained) else 0
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels, "logits_from": logits_from}


def random_batches(count: int, batch_size: int, *, seed: int) -> list[list[int]]:
    """Index batches of a seeded random permutation, drawn as a plain ``Trainer`` draws them (accelerate's
    seedable sampler: ``torch.randperm`` from a generator seeded with the seed plus the epoch)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[i : i + batch_size] for i in range(0, count, batch_size)]


def collate_causal_packed(examples: list[tuple[list[int], list[int]]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """The batch's examples end to end in one row, with no padding at all. ``position_ids`` restart at 0 for
    each example, which is how the model tells them apart: given no attention mask and no cache, it builds a
    block-causal mask, so no token attends across examples. An example's first label is dropped (in its own
    row nothing predicts it either), so the previous example's last token is never trained to predict it."""
    ids = [t for example_ids, _ in examples for t in example_ids]
    labels = [IGNORE if j == 0 else t for _, labs in examples for j, t in enumerate(labs)]
    positions = [j for example_ids, _ in examples for j in range(len(example_ids))]
    return {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([positions]),
        "attention_mask": torch.ones((1, len(ids)), dtype=torch.long),  # counted, not passed to the model
        "labels": torch.tensor([labels]),
    }


def collate_classification(examples: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, _) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": torch.tensor([label for _, label in examples])}


def causal_loss(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Mean next-token loss over the labelled tokens, and their count. The head runs from ``logits_from`` on,
    or, for a packed batch, only at the positions whose next token is trained."""
    if "position_ids" in batch:
        labels = batch["labels"]
        keep = (labels[0, 1:] != IGNORE).nonzero().flatten()
        out = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], logits_to_keep=keep, use_cache=False
        )
        targets = labels[:, keep + 1]
        loss = torch.nn.functional.cross_entropy(out.logits.float().flatten(0, 1), targets.flatten())
        return loss, int(targets.numel())
    start = int(batch.get("logits_from", 0))
    width = batch["input_ids"].shape[1]
    keep = torch.arange(start, width - 1, device=batch["input_ids"].device)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep)
    targets = batch["labels"][:, start + 1 :]
    logits = out.logits.float()
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    return loss, int((targets != IGNORE).sum())


def classification_loss(model, batch: dict) -> tuple[torch.Tensor, int]:
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    loss = torch.nn.functional.cross_entropy(out.logits.float(), batch["labels"])
    return loss, len(batch["labels"])


LOSSES = {CAUSAL_LM.finetune_task: causal_loss, ENCODER.finetune_task: classification_loss}
COLLATORS = {CAUSAL_LM.finetune_task: collate_causal, ENCODER.finetune_task: collate_classification}
