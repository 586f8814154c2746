"""Does the model reach the same answer along different reasoning paths?

N paths are sampled with seeds ``seed .. seed + N - 1``; each path's final answer is the last match of a
pattern, read by the one answer rule (`datafiles.answers`: by default the last ``Answer: N``, the number read
whole). The result holds the answers, how many agree
with the majority, and the first moment where the paths' tokens part, with the distribution they shared
there (every path read the same prefix up to that moment, so they saw one distribution) and which token
each path took.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from datafiles.answers import ANSWER_PATTERN, compile_pattern, find_answer
from tracing.core.bundle import load_bundle, save_bundle
from tracing.core.trace import DecodingSettings, Trace
from tracing.experiments.comparison import first_divergence

DEFAULT_ANSWER_PATTERN = ANSWER_PATTERN
MAX_PATHS = 64
BUNDLE_KIND = "consistency"


def extract_answer(text: str, pattern: str = DEFAULT_ANSWER_PATTERN) -> str | None:
    """The last match of ``pattern`` in ``text`` (its first group when it has groups, else the whole match), in
    the answer rule's one form; None when nothing matches."""
    found = find_answer(text, compile_pattern(pattern), last_number=False)
    return None if found is None else found.value


@dataclass
class PathChoice:
    """What one path took at the divergence moment (token None: the path had already ended)."""

    token_id: int | None
    token: str | None
    prob: float | None


@dataclass
class Divergence:
    """The first moment where the paths part, the distribution they shared there, and each path's pick."""

    moment: int
    top_ids: list[int]
    top_tokens: list[str]
    top_probs: list[float]
    choices: list[PathChoice]


@dataclass(eq=False)
class Consistency:
    """N sampled reasoning paths of one prompt and their answers (None: no answer found in that path)."""

    prompt: str
    answer_pattern: str
    seeds: list[int]
    paths: list[Trace]
    answers: list[str | None]
    majority: str | None
    agreement: float  # share of all paths whose answer is the majority answer
    divergence: Divergence | None  # None when every path generated the same tokens
    info: dict = field(default_factory=dict)

    @property
    def answer_counts(self) -> dict[str | None, int]:
        return dict(Counter(self.answers).most_common())

    def save(self, path: str | os.PathLike) -> Path:
        meta = {
            "prompt": self.prompt,
            "answer_pattern": self.answer_pattern,
            "seeds": self.seeds,
            "answers": self.answers,
            "majority": self.majority,
            "agreement": self.agreement,
            "divergence": None if self.divergence is None else asdict(self.divergence),
            "info": self.info,
        }
        return save_bundle(path, BUNDLE_KIND, meta, {f"path{i}": t for i, t in enumerate(self.paths)})


def load_consistency(path: str | os.PathLike) -> Consistency:
    meta, traces = load_bundle(path, BUNDLE_KIND)
    raw = meta["divergence"]
    divergence = None
    if raw is not None:
        divergence = Divergence(**{**raw, "choices": [PathChoice(**c) for c in raw["choices"]]})
    return Consistency(
        prompt=meta["prompt"],
        answer_pattern=meta["answer_pattern"],
        seeds=meta["seeds"],
        paths=[traces[f"path{i}"] for i in range(len(meta["seeds"]))],
        answers=meta["answers"],
        majority=meta["majority"],
        agreement=meta["agreement"],
        divergence=divergence,
        info=meta.get("info", {}),
    )


def majority_answer(answers: list[str | None]) -> tuple[str | None, float]:
    """The most common found answer (ties: the one reached first) and its share of all paths."""
    found = [a for a in answers if a is not None]
    if not found:
        return None, 0.0
    answer, count = Counter(found).most_common(1)[0]
    return answer, count / len(answers)


def paths_divergence(paths: list[Trace]) -> Divergence | None:
    """Where the paths' generated tokens first differ, with the shared distribution at that moment."""
    sequences = [p.generated_ids for p in paths]
    moment = None
    for other in sequences[1:]:
        split = first_divergence(sequences[0], other)
        if split is not None:
            moment = split if moment is None else min(moment, split)
    if moment is None:
        return None
    reader = next(p for p in paths if len(p.moments) > moment)  # some path went on past the split
    shared = reader.moments[moment]
    choices = [
        PathChoice(p.moments[moment].token_id, p.moments[moment].token, p.moments[moment].prob)
        if len(p.moments) > moment
        else PathChoice(None, None, None)
        for p in paths
    ]
    return Divergence(
        moment=moment,
        top_ids=[int(i) for i in shared.top_ids],
        top_tokens=list(shared.top_tokens),
        top_probs=[float(p) for p in shared.top_probs],
        choices=choices,
    )


def consistency(
    loaded,
    prompt: str,
    n_paths: int,
    settings: DecodingSettings,
    answer_pattern: str = DEFAULT_ANSWER_PATTERN,
) -> Consistency:
    """Samples ``n_paths`` paths with seeds ``settings.seed`` (0 when unset) onwards and compares answers.

    Raises ValueError when the settings do not sample (every path would be the same), for a bad count or
    a bad pattern.
    """
    compile_pattern(answer_pattern)
    if not isinstance(n_paths, int) or not 2 <= n_paths <= MAX_PATHS:
        raise ValueError(f"The number of paths must be a whole number from 2 to {MAX_PATHS}, got {n_paths!r}.")
    settings = settings.validate()
    if not settings.do_sample:
        raise ValueError("Consistency needs sampling: under greedy decoding every path is the same path.")
    first_seed = settings.seed if settings.seed is not None else 0
    seeds = [first_seed + i for i in range(n_paths)]
    from tracing.core.decode_many import trace_all  # here, so the result types above load without torch

    paths = trace_all(loaded, [(prompt, replace(settings, seed=seed)) for seed in seeds])  # batched
    answers = [extract_answer(p.text, answer_pattern) for p in paths]
    majority, agreement = majority_answer(answers)
    return Consistency(
        prompt=prompt,
        answer_pattern=answer_pattern,
        seeds=seeds,
        paths=paths,
        answers=answers,
        majority=majority,
        agreement=agreement,
        divergence=paths_divergence(paths),
    )
