"""Evaluating a model on a question set: every question decoded greedily at once (`trace_all`, batched by
the model's scheduler), its final answer read and checked, the answer's probability, the departure from a
reference solution (`departure.py`) and, if asked, the agreement of N sampled paths (seeded, so a rerun
gives the same paths). Makes the `evaluation.py` result types.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from datafiles.answers import AnswerRule, FoundAnswer
from model_zoo.step_scheduler import MAX_ROWS
from tracing.core.decode_many import trace_all
from tracing.core.trace import DecodingSettings, Trace
from tracing.experiments.consistency import majority_answer
from tracing.experiments.departure import departures_of_greedy_traces, reference_ids
from tracing.experiments.evaluation import EvaluationSettings, ModelRun, PathAgreement, QuestionResult
from tracing.experiments.questions import Question

RECORD_TOP_K = 5  # per moment: enough for the Trace page's probability panel of an opened question


class Stopped(Exception):
    """The evaluation was asked to stop before every question was answered."""


def greedy_settings(settings: EvaluationSettings) -> DecodingSettings:
    return DecodingSettings(max_new_tokens=settings.max_new_tokens, record_top_k=RECORD_TOP_K).validate()


def path_settings(settings: EvaluationSettings, seed: int) -> DecodingSettings:
    return DecodingSettings(
        max_new_tokens=settings.max_new_tokens,
        do_sample=True,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=seed,
        record_top_k=1,
    ).validate()


def answer_probability(tokenizer, trace: Trace, found: FoundAnswer) -> float:
    """The product of the probabilities of the generated tokens that wrote ``trace.text[found.start:found.end]``
    (a token counts when the text it adds overlaps the answer)."""
    ids = trace.generated_ids
    probability, before = 1.0, 0
    for index, moment in enumerate(trace.moments):
        after = len(tokenizer.decode(ids[: index + 1], skip_special_tokens=True))
        if after > found.start and before < found.end:
            probability *= moment.prob
        if before >= found.end:
            break
        before = after
    return probability


def _counter(on_done: Callable[[int], None] | None) -> Callable[..., None]:
    lock, done = threading.Lock(), [0]

    def count(*_) -> None:
        with lock:  # reported in order: the store never hears a count go down
            done[0] += 1
            if on_done is not None:
                on_done(done[0])

    return count


def _path_agreements(loaded, questions, settings, rule, should_stop, count) -> list[PathAgreement | None]:
    if not settings.paths:
        return [None] * len(questions)
    seeds = [settings.seed + i for i in range(settings.paths)]
    requests = [(q.question, path_settings(settings, seed)) for q in questions for seed in seeds]
    paths = trace_all(loaded, requests, should_stop=should_stop, attention=False)
    agreements = []
    for number, question in enumerate(questions):
        chosen = paths[number * len(seeds) : (number + 1) * len(seeds)]
        answers = [None if (f := rule.find(p.text)) is None else f.value for p in chosen]
        majority, agreement = majority_answer(answers)
        agreements.append(PathAgreement(seeds, answers, majority, agreement, rule.same(majority, question.answer)))
        count()
    return agreements


def evaluate_model(
    loaded,
    questions: Sequence[Question],
    settings: EvaluationSettings,
    *,
    should_stop: Callable[[], bool] | None = None,
    on_done: Callable[[int], None] | None = None,
    trace_folder: str | Path | None = None,
    at_once: int = MAX_ROWS,
) -> ModelRun:
    """One model's results on ``questions``, in their order. ``on_done(n)`` hears how many questions are
    answered so far (from the decoding threads); ``should_stop`` ends the decodes early and raises `Stopped`.
    With ``trace_folder`` each question's greedy trace is saved there (named in its result); ``at_once``
    questions decode together (1: one after another, the benchmark's baseline)."""
    if problems := settings.problems():
        raise ValueError("; ".join(problems))
    rule = AnswerRule(settings.answer_pattern, settings.last_number)
    started = time.perf_counter()
    count = _counter(on_done)
    greedy = greedy_settings(settings)
    traces = trace_all(
        loaded,
        [(q.question, greedy) for q in questions],
        should_stop=should_stop,
        on_trace=None if settings.paths else count,
        at_once=at_once,
        attention=False,
    )
    if any(t.stop_reason == "stopped" for t in traces):
        raise Stopped("stopped before every question was answered")
    agreements = _path_agreements(loaded, questions, settings, rule, should_stop, count)
    if should_stop is not None and should_stop():
        raise Stopped("stopped before every question was answered")
    identity = loaded.identity
    folder = Path(trace_folder) if trace_folder is not None else None
    references = [reference_ids(loaded.tokenizer, q.reference) if q.reference else None for q in questions]
    departures = departures_of_greedy_traces(loaded, traces, references, at_once=at_once)
    results = []
    for question, trace, paths, gone in zip(questions, traces, agreements, departures, strict=True):
        found = rule.find(trace.text)
        trace_file = None
        if folder is not None:
            name = f"{identity.name.replace('/', '_').replace('+', '__')}-q{question.index}.safetensors"
            trace.save(folder / name)
            trace_file = name
        results.append(
            QuestionResult(
                index=question.index,
                text=trace.text,
                answer=None if found is None else found.value,
                correct=found is not None and rule.same(found.value, question.answer),
                answer_prob=None if found is None else answer_probability(loaded.tokenizer, trace, found),
                tokens=len(trace.moments),
                stop_reason=trace.stop_reason,
                departure=gone,
                paths=paths,
                trace_file=trace_file,
            )
        )
    return ModelRun(identity.name, identity.base, identity.adapter, results, time.perf_counter() - started)
