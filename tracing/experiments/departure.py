"""Where a model leaves a reference solution: the reference is teacher-forced after the prompt in one pass
(`tracing.core.teacher_forcing`), and the first position whose most likely next token is not the
reference's is the departure moment, with the reference token's probability and rank there.

Under greedy decoding the model's own generation follows the reference up to that moment, so the moment
index is also where its trace went its own way: `departures_of_greedy_traces` reads it off the traces and
reads only that one position again, for the reference token's probability and rank (an evaluation's many
questions at once, batched by the model's scheduler), instead of a pass over the whole reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from model_zoo.step_scheduler import MAX_ROWS
from tracing.core.teacher_forcing import forced_pass
from tracing.core.tokens import readable_token
from tracing.core.trace import Trace
from tracing.experiments.evaluation import Departure


def reference_ids(tokenizer, reference: str) -> list[int]:
    """The reference solution's tokens as the model would write them after the prompt (no special tokens)."""
    return [int(i) for i in tokenizer(reference, add_special_tokens=False)["input_ids"]]


def departure(loaded, prompt_ids: list[int], reference: list[int]) -> Departure | None:
    """The departure from ``reference`` (token ids after ``prompt_ids``); None when the model's top choice is
    the reference's token at every position."""
    if not reference:
        return None
    forced = forced_pass(loaded, list(prompt_ids) + list(reference), len(prompt_ids), attention=False)
    log_probs = torch.log_softmax(forced.logits.float(), dim=-1)  # [len(reference), vocab]
    wanted = torch.tensor(reference)
    top = log_probs.argmax(dim=-1)
    departed = (top != wanted).nonzero()
    if len(departed) == 0:
        return None
    moment = int(departed[0])
    return _departure_at(loaded.tokenizer, moment, reference[moment], log_probs[moment])


def _departure_at(tokenizer, moment: int, reference_id: int, row: torch.Tensor) -> Departure:
    """The departure at ``moment`` from the model's log-probabilities there (``row``, over the vocabulary)."""
    chosen = row[reference_id]
    top = int(row.argmax())
    return Departure(
        moment=moment,
        reference_id=int(reference_id),
        reference_token=readable_token(tokenizer, int(reference_id)),
        reference_prob=float(chosen.exp()),
        reference_rank=int((row > chosen).sum()) + 1,
        model_id=top,
        model_token=readable_token(tokenizer, top),
        model_prob=float(row[top].exp()),
    )


def departures_of_greedy_traces(
    loaded, traces: Sequence[Trace], references: Sequence[list[int] | None], at_once: int = MAX_ROWS
) -> list[Departure | None]:
    """`departure` of each greedy trace's prompt from its reference (None: no reference), read off the traces.

    A greedy trace chose the model's top token at every moment, so it follows its reference exactly up to
    the first moment where they differ: that is the departure, and only the distribution there, after the
    prompt and the reference's tokens before it, is read again (``at_once`` at a time, batched by the
    model's scheduler). Where that read does not confirm it (the reference's token on top after all: a near
    tie read differently) or the trace ended still on its reference, the whole reference is teacher-forced."""
    if len(traces) != len(references):
        raise ValueError(f"{len(traces)} traces but {len(references)} references")

    def one(index: int) -> Departure | None:
        trace, reference = traces[index], references[index]
        if not reference:
            return None
        generated = trace.generated_ids
        moment = next((i for i, (a, b) in enumerate(zip(generated, reference, strict=False)) if a != b), None)
        if moment is None and len(generated) >= len(reference):
            return None  # the model followed the whole reference
        if moment is not None:
            with loaded.steps(attention=False) as stream:
                logits = stream.step(list(trace.prompt_ids) + list(reference[:moment])).logits
            row = torch.log_softmax(logits.float().cpu(), dim=-1)
            if int(row.argmax()) != reference[moment]:
                return _departure_at(loaded.tokenizer, moment, reference[moment], row)
        return departure(loaded, trace.prompt_ids, reference)  # unconfirmed, or the trace ended on the reference

    workers = max(1, min(at_once, sum(bool(r) for r in references)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="departure") as pool:
        return list(pool.map(one, range(len(traces))))
