"""One call that says whether a data file is usable for a task: rows, mapping, problems, token lengths.

Used by the page (preview and mapping), by ``python -m finetune validate FILE`` and by the training job,
so all three judge a file the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from datafiles.rows import LoadedData, Problem
from finetune.encoding import LengthStats, full_length, length_stats
from finetune.mapping import MIN_EXAMPLES, ColumnMapping, guess_mapping, to_examples


@dataclass
class DataReport:
    data: LoadedData
    mapping: ColumnMapping | None
    examples: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lengths: LengthStats | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def notes(self) -> list[str]:
        """What was guessed rather than known: a detected encoding, a mapping guessed from column order."""
        notes = []
        if self.data.encoding_detected:
            notes.append(f"encoding: {self.data.encoding_note}; check that the text reads right")
        if self.mapping and (guess := self.mapping.guess_note()):
            notes.append(f"mapping: {guess} with --style and --column")
        return notes

    def summary(self) -> str:
        lines = [f"{self.data.file}: {self.data.format}, {len(self.data.rows)} rows, columns {self.data.columns}"]
        if self.mapping:
            lines.append(f"mapping: {self.mapping.style} {self.mapping.columns} (task {self.mapping.task})")
        lines += self.notes()
        lines.append(f"usable examples: {len(self.examples)}")
        if self.lengths:
            s = self.lengths
            lines.append(
                f"tokens per example: min {s.min}, median {s.median:.0f}, p95 {s.p95}, max {s.max}; total {s.total}"
            )
        return "\n".join(lines)


def check_data(
    data: LoadedData,
    mapping: ColumnMapping | None = None,
    *,
    task: str | None = None,
    tokenizer=None,
    max_context: int | None = None,
    max_length: int = 512,
    min_examples: int = MIN_EXAMPLES,
) -> DataReport:
    """Every problem with ``data`` under ``mapping`` (guessed when None); token checks when a tokenizer is given."""
    report = DataReport(data, mapping, problems=list(data.problems))
    if data.problems and not data.rows:
        return report
    report.mapping = mapping = mapping or guess_mapping(data.columns, task)
    if mapping is None:
        report.problems.append(
            Problem(data.file, f"cannot tell which columns to use among {data.columns}; choose them explicitly")
        )
        return report
    if task and mapping.task != task:
        report.problems.append(Problem(data.file, f"a {mapping.style} mapping trains {mapping.task}, not {task}"))
    report.examples, problems = to_examples(data, mapping, min_examples=min_examples)
    report.problems += problems
    if tokenizer is not None and report.examples:
        lengths = [full_length(e, tokenizer) for e in report.examples]
        report.lengths = length_stats(lengths, max_length)
        if max_context:
            report.problems += [
                Problem(data.file, f"{n} tokens, longer than the model's context of {max_context}", e["line"])
                for e, n in zip(report.examples, lengths, strict=True)
                if n > max_context
            ]
    return report


def split_examples(examples: list[dict], validation_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A seeded shuffle split; at least one validation example whenever the fraction is above zero."""
    if validation_fraction <= 0:
        return list(examples), []
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    count = min(len(shuffled) - 1, max(1, round(len(shuffled) * validation_fraction)))
    return shuffled[count:], shuffled[:count]
