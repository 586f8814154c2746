"""The result of evaluating a question set: per question and per model, what was generated, the answer read
from it, whether it is right, how sure the model was, where it left the reference solution, and how its
sampled paths agree. Saves to one JSON file and loads back equal; torch-free (the page's tables and charts
read it).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datafiles.answers import ANSWER_PATTERN, AnswerRule
from tracing.experiments.questions import Question

FORMAT = "momentscope-evaluation"
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class EvaluationSettings:
    """Greedy decoding up to ``max_new_tokens``; ``paths`` > 0 also samples that many paths per question
    (seeds ``seed`` onwards, ``temperature``, ``top_p``) for their consistency."""

    max_new_tokens: int = 64
    answer_pattern: str = ANSWER_PATTERN
    last_number: bool = True
    paths: int = 0
    seed: int = 0
    temperature: float = 0.8
    top_p: float = 0.95

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.max_new_tokens <= 1024:
            found.append(f"max_new_tokens must be from 1 to 1024, got {self.max_new_tokens}")
        if self.paths and not 2 <= self.paths <= 64:
            found.append(f"paths must be 0 (off) or from 2 to 64, got {self.paths}")
        if not self.temperature > 0 or not 0 < self.top_p <= 1:
            found.append("temperature must be above 0 and top_p in (0, 1]")
        try:
            AnswerRule(self.answer_pattern, self.last_number).check()
        except ValueError as exc:
            found.append(str(exc))
        return found


@dataclass(frozen=True)
class Departure:
    """The first moment the model's top choice is not the reference solution's token (teacher-forced)."""

    moment: int
    reference_id: int
    reference_token: str
    reference_prob: float
    reference_rank: int  # 1 + how many tokens the model found strictly more likely
    model_id: int
    model_token: str
    model_prob: float


@dataclass(frozen=True)
class PathAgreement:
    """N sampled paths of one question: their answers, the majority and its share, and whether it is right."""

    seeds: list[int]
    answers: list[str | None]
    majority: str | None
    agreement: float
    majority_correct: bool


@dataclass(frozen=True)
class QuestionResult:
    """One model's answer to one question. ``answer_prob``: the product of the probabilities of the tokens
    that wrote the answer (None: no answer found); ``trace_file``: the greedy trace, relative to the results
    file's folder."""

    index: int
    text: str
    answer: str | None
    correct: bool
    answer_prob: float | None
    tokens: int
    stop_reason: str
    departure: Departure | None = None
    paths: PathAgreement | None = None
    trace_file: str | None = None

    @classmethod
    def from_dict(cls, raw: dict) -> QuestionResult:
        raw = dict(raw)
        raw["departure"] = Departure(**raw["departure"]) if raw.get("departure") else None
        raw["paths"] = PathAgreement(**raw["paths"]) if raw.get("paths") else None
        return cls(**raw)


@dataclass
class ModelRun:
    """Every question's result for one model (``name``: base id, or base + adapter)."""

    name: str
    base: str
    adapter: str | None
    results: list[QuestionResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def correct(self) -> int:
        return sum(r.correct for r in self.results)

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.results) if self.results else 0.0

    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, len(self.results))


@dataclass
class Evaluation:
    """A question set evaluated with one model, or two side by side (base first, then the adapter)."""

    source: str
    questions: list[Question]
    settings: EvaluationSettings
    runs: list[ModelRun]
    info: dict = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> Path:
        """One JSON file, written atomically."""
        path = Path(path)
        body = {
            "format": FORMAT,
            "source": self.source,
            "questions": [asdict(q) for q in self.questions],
            "settings": asdict(self.settings),
            "runs": [asdict(r) for r in self.runs],
            "info": self.info,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, ensure_ascii=False)
        os.replace(tmp, path)
        return path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Evaluation) and (
            self.source,
            self.questions,
            self.settings,
            [asdict(r) for r in self.runs],
        ) == (other.source, other.questions, other.settings, [asdict(r) for r in other.runs])

    def rows(self) -> list[dict]:
        """One row per question: its text and known answer, then each model's columns (prefixed by its
        position, ``base_`` and ``tuned_`` for two models), and with two models whether the adapter fixed
        or broke the question."""
        prefixes = ["base", "tuned"] if len(self.runs) == 2 else ["model"]
        rows = []
        for question in self.questions:
            row = {"index": question.index, "line": question.line, "question": question.question}
            row["expected"] = question.answer
            for prefix, run in zip(prefixes, self.runs, strict=False):
                result = run.results[question.index]
                row |= {
                    f"{prefix}_answer": result.answer,
                    f"{prefix}_correct": result.correct,
                    f"{prefix}_confidence": result.answer_prob,
                    f"{prefix}_departure": None if result.departure is None else result.departure.moment,
                    f"{prefix}_agreement": None if result.paths is None else result.paths.agreement,
                    f"{prefix}_text": result.text,
                }
            if len(self.runs) == 2:
                base, tuned = (run.results[question.index].correct for run in self.runs)
                row["fixed"], row["broken"] = tuned and not base, base and not tuned
            rows.append(row)
        return rows

    def csv_text(self) -> str:
        rows = self.rows()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["index"])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


def load_evaluation(path: str | os.PathLike) -> Evaluation:
    """Reads a file written by `Evaluation.save`; ValueError when it is not one."""
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as an evaluation: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"{path} is not a Momentscope evaluation file.")
    runs = [
        ModelRun(r["name"], r["base"], r["adapter"], [QuestionResult.from_dict(x) for x in r["results"]], r["seconds"])
        for r in body["runs"]
    ]
    return Evaluation(
        body["source"],
        [Question(**q) for q in body["questions"]],
        EvaluationSettings(**body["settings"]),
        runs,
        body.get("info", {}),
    )


def wilson_interval(successes: int, count: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) for no trials."""
    if count == 0:
        return 0.0, 1.0
    p = successes / count
    centre = (p + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ReliabilityBin:
    """Questions whose confidence fell in ``[low, high)``: how many, their mean confidence, their accuracy."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def reliability(results: list[QuestionResult], bins: int = 10) -> list[ReliabilityBin]:
    """Confidence (the answer's probability; 0 without an answer) in equal-width bins, against accuracy;
    empty bins left out."""
    grouped: list[list[QuestionResult]] = [[] for _ in range(bins)]
    for result in results:
        confidence = result.answer_prob or 0.0
        grouped[min(bins - 1, int(confidence * bins))].append(result)
    return [
        ReliabilityBin(
            i / bins,
            (i + 1) / bins,
            len(group),
            sum(r.answer_prob or 0.0 for r in group) / len(group),
            sum(r.correct for r in group) / len(group),
        )
        for i, group in enumerate(grouped)
        if group
    ]
