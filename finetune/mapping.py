"""Which columns of a data set play which role, a guess from the column names, and the checks on each row.

A mapping has a ``style`` (``prompt-response``, ``messages``, ``text`` or ``text-label``) and the column
for each of its roles. ``text-label`` is sequence classification; every other style is causal LM tuning.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from datafiles.rows import TEXT_COLUMN, LoadedData, Problem
from model_zoo.kinds import CAUSAL_LM, ENCODER

STYLES: dict[str, tuple[str, ...]] = {
    "prompt-response": ("prompt", "response"),
    "messages": ("messages",),
    "text": ("text",),
    "text-label": ("text", "label"),
}
MIN_EXAMPLES = 8  # fewer rows than this are too few to fine-tune on
TASK_OF_STYLE = {
    "prompt-response": CAUSAL_LM.finetune_task,
    "messages": CAUSAL_LM.finetune_task,
    "text": CAUSAL_LM.finetune_task,
    "text-label": ENCODER.finetune_task,
}
# Column names each role answers to, most likely first.
ROLE_NAMES = {
    "prompt": ("prompt", "instruction", "question", "input", "query", "source"),
    "response": ("response", "output", "answer", "completion", "target", "reply"),
    "messages": ("messages", "conversation", "conversations", "chat"),
    "text": ("text", "sentence", "content", "review", "document", "input"),
    "label": ("label", "labels", "class", "category", "sentiment", "target"),
}
CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ColumnMapping:
    """``by_position`` marks a guess made from where the columns are, because no name was recognised."""

    style: str
    columns: dict[str, str] = field(default_factory=dict)
    by_position: bool = field(default=False, compare=False)

    @property
    def task(self) -> str:
        return TASK_OF_STYLE[self.style]

    def to_dict(self) -> dict:
        return {"style": self.style, "columns": dict(self.columns)}

    @classmethod
    def from_dict(cls, raw: dict) -> ColumnMapping:
        return cls(style=raw["style"], columns=dict(raw.get("columns", {})))

    def guess_note(self) -> str:
        """Words for a by-position guess ('a guess: foo -> prompt, bar -> response ...'); empty otherwise."""
        if not self.by_position:
            return ""
        roles = ", ".join(f"{column!r} as {role}" for role, column in self.columns.items())
        return f"a guess from the column order, no column name was recognised: {roles}; check it or choose"


def _find(columns: list[str], role: str, taken: set[str] = frozenset()) -> str | None:
    lowered = {c.lower().strip(): c for c in columns if c not in taken}
    return next((lowered[name] for name in ROLE_NAMES[role] if name in lowered), None)


def guess_mapping(columns: list[str], task: str | None = None) -> ColumnMapping | None:
    """The most likely mapping for these column names (restricted to ``task`` when given), or None."""
    candidates: list[ColumnMapping] = []
    if messages := _find(columns, "messages"):
        candidates.append(ColumnMapping("messages", {"messages": messages}))
    prompt = _find(columns, "prompt")
    response = _find(columns, "response", {prompt} if prompt else set())
    if prompt and response:
        candidates.append(ColumnMapping("prompt-response", {"prompt": prompt, "response": response}))
    text = _find(columns, "text")
    label = _find(columns, "label", {text} if text else set())
    if text and label:
        candidates.append(ColumnMapping("text-label", {"text": text, "label": label}))
    if text:
        candidates.append(ColumnMapping("text", {"text": text}))
    if len(columns) == 1:
        candidates.append(ColumnMapping("text", {"text": columns[0]}, by_position=True))
    if len(columns) == 2 and task == ENCODER.finetune_task:
        candidates.append(ColumnMapping("text-label", {"text": columns[0], "label": columns[1]}, by_position=True))
    if len(columns) >= 2:
        candidates.append(
            ColumnMapping("prompt-response", {"prompt": columns[0], "response": columns[1]}, by_position=True)
        )
    return next((c for c in candidates if task is None or c.task == task), None)


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return {list: "list", dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def _check_messages(value, file: str, line: int, column: str) -> Problem | None:
    if not isinstance(value, list) or not value:
        return Problem(file, "expected a non-empty list of {role, content} messages", line, column)
    for index, message in enumerate(value):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return Problem(file, f"message {index + 1} needs a text 'content'", line, column)
        if message.get("role") not in CHAT_ROLES:
            return Problem(
                file, f"message {index + 1} has role {message.get('role')!r}; use {CHAT_ROLES}", line, column
            )
    if value[-1]["role"] != "assistant":
        return Problem(file, "the last message must be the assistant's (it is what the model learns)", line, column)
    return None


def to_examples(
    data: LoadedData, mapping: ColumnMapping, *, min_examples: int = MIN_EXAMPLES
) -> tuple[list[dict], list[Problem]]:
    """The mapped examples (``{role: value, "line": n}``) and every problem with a mapped column."""
    problems: list[Problem] = []
    roles = STYLES.get(mapping.style)
    if roles is None:
        return [], [Problem(data.file, f"unknown style {mapping.style!r}; use one of {list(STYLES)}")]
    missing_roles = [r for r in roles if not mapping.columns.get(r)]
    if missing_roles:
        return [], [Problem(data.file, f"no column chosen for {', '.join(missing_roles)}")]
    absent = [mapping.columns[r] for r in roles if mapping.columns[r] not in data.columns]
    if absent and data.rows:
        return [], [Problem(data.file, "no such column in the file", 1, c) for c in absent]
    label_types: dict[str, list[int]] = {}
    examples = []
    for row, line in zip(data.rows, data.lines, strict=True):
        example, bad = {"line": line}, False
        for role in roles:
            column = mapping.columns[role]
            value = row.get(column)
            if column not in row:
                problems.append(Problem(data.file, "missing column", line, column))
            elif role == "messages":
                problem = _check_messages(value, data.file, line, column)
                problems += [problem] if problem else []
                bad |= problem is not None
                example[role] = value
                continue
            elif role == "label":
                if value is None or (isinstance(value, str) and not value.strip()):
                    problems.append(Problem(data.file, "empty label", line, column))
                else:
                    label_types.setdefault(_type_name(value), []).append(line)
                    example[role] = str(value).strip()
                    continue
            elif not isinstance(value, str):
                problems.append(Problem(data.file, f"expected text, found {_type_name(value)}", line, column))
            elif not value.strip():
                problems.append(Problem(data.file, "empty value", line, column))
            else:
                example[role] = value
                continue
            bad = True
        if not bad:
            examples.append(example)
    if len(label_types) > 1:
        counts = ", ".join(f"{len(lines)} {kind}" for kind, lines in label_types.items())
        minority = min(label_types.values(), key=len)
        problems.append(
            Problem(
                data.file,
                f"mixed types in the label column ({counts}); first odd one",
                minority[0],
                mapping.columns["label"],
            )
        )
    if mapping.style == "text-label" and examples and len({e["label"] for e in examples}) < 2:
        problems.append(
            Problem(data.file, "classification needs at least two different labels", None, mapping.columns["label"])
        )
    if len(examples) < min_examples:
        problems.append(Problem(data.file, f"too few examples: {len(examples)} usable, at least {min_examples} needed"))
    return examples, problems


def label_names(examples: list[dict]) -> list[str]:
    """The classification labels in a stable order (sorted; numbers numerically)."""
    labels = Counter(e["label"] for e in examples)
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


__all__ = ["STYLES", "TEXT_COLUMN", "ColumnMapping", "guess_mapping", "label_names", "to_examples"]
