"""A set of questions with known answers, read from an uploaded CSV/JSONL/JSON file (a fine-tune job's held-out
split comes as such a file: `jobs.launcher.heldout_path`).

A file is read by the data files' reader (`datafiles.rows`: encoding, CSV dialect, malformed JSON, each
problem with its file, line and column). Columns are found by name: the question (``question``, ``prompt``,
``问题``...), the known answer (``answer``, ``expected``, ``答案``...) and an optional reference solution
(``reference``, ``solution``, ``response``, ``解答``...). Without an answer column, each reference's final
answer (the answer pattern's last match) is the known answer, so a fine-tune data file (prompt/response, or
chat messages) is a question set as it is. Torch-free.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from datafiles.answers import AnswerRule
from datafiles.rows import LoadedData, Problem, load_examples

MAX_QUESTIONS = 2000
ROLE_NAMES = {
    "question": ("question", "prompt", "instruction", "input", "query", "问题", "题目", "问题文本"),
    "answer": ("answer", "expected", "expected_answer", "final_answer", "gold", "label", "答案", "正确答案"),
    "reference": ("reference", "solution", "response", "output", "rationale", "reasoning", "解答", "参考答案"),
}
FORMATS = ("csv", "jsonl", "json")


@dataclass(frozen=True)
class Question:
    """One question: what is asked, the known answer, optionally a reference solution, and the file's line."""

    index: int
    question: str
    answer: str
    reference: str | None = None
    line: int | None = None


@dataclass
class QuestionSet:
    """The questions read from one source, and every problem found (each naming its line and column)."""

    source: str
    questions: list[Question] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # role -> the column that plays it
    read_as: str = ""  # the encoding the file was detected in, when it was not UTF-8 or UTF-16 ("GBK")

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.questions)

    def message(self) -> str:
        """The problems, one a line (at most 20, then how many more)."""
        lines = [str(p) for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"... and {len(self.problems) - 20} more")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"source": self.source, "columns": self.columns, "questions": [asdict(q) for q in self.questions]}

    @classmethod
    def from_dict(cls, raw: dict) -> QuestionSet:
        return cls(raw["source"], [Question(**q) for q in raw["questions"]], [], dict(raw.get("columns", {})))


def _column(columns: list[str], role: str, taken: set[str]) -> str | None:
    lowered = {c.lower().strip(): c for c in columns if c not in taken}
    return next((lowered[name] for name in ROLE_NAMES[role] if name in lowered), None)


def _text(value, role: str) -> tuple[str | None, str | None]:
    """The cell as text, or why it cannot be: (text, None) or (None, problem)."""
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        kind = {bool: "a boolean", type(None): "null", list: "a list", dict: "an object"}[type(value)]
        return None, f"expected text for the {role}, found {kind}"
    if isinstance(value, int | float):
        return (str(value), None) if role == "answer" else (None, f"expected text for the {role}, found a number")
    if not str(value).strip():
        return None, f"the {role} is empty"
    return str(value), None


def _chat_columns(data: LoadedData) -> bool:
    return "messages" in data.columns and not _column(data.columns, "question", set())


def _chat_row(row: dict) -> dict:
    """A chat example (``messages``) as question (the last user turn) and reference (the assistant's reply)."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        return {}
    user = next((m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    return {"question": user, "reference": last.get("content") if last.get("role") == "assistant" else None}


def questions_from(data: LoadedData, rule: AnswerRule) -> QuestionSet:
    """The questions in rows read by `datafiles.rows.load_examples`, with every problem found."""
    result = QuestionSet(data.file, problems=list(data.problems))
    if not data.rows:
        return result
    if _chat_columns(data):
        rows = [_chat_row(row) for row in data.rows]
        columns = {"question": "question", "reference": "reference"}
        result.columns = {"question": "messages (last user turn)", "reference": "messages (assistant reply)"}
    else:
        rows = data.rows
        taken: set[str] = set()
        columns = {}
        for role in ROLE_NAMES:
            if (found := _column(data.columns, role, taken)) is not None:
                columns[role] = found
                taken.add(found)
        result.columns = dict(columns)
    if "question" not in columns:
        names = ", ".join(ROLE_NAMES["question"][:4])
        result.problems.append(Problem(data.file, f"no question column among {data.columns}; name one {names}", 1))
        return result
    if "answer" not in columns and "reference" not in columns:
        result.problems.append(
            Problem(
                data.file, f"no answer column among {data.columns}; add one named answer (or a reference solution)", 1
            )
        )
        return result
    for row, line in zip(rows, data.lines, strict=True):
        cells: dict[str, str | None] = {}
        for role, column in columns.items():
            value = row.get(column)
            if role == "reference" and (value is None or (isinstance(value, str) and not value.strip())):
                cells[role] = None
                continue
            if column not in row and role != "reference":
                result.problems.append(Problem(data.file, f"no {role} on this line", line, column))
                break
            cells[role], problem = _text(value, role)
            if problem:
                result.problems.append(Problem(data.file, problem, line, column))
                break
        else:
            answer = cells.get("answer")
            if answer is None and cells.get("reference") is not None:
                answer = rule.from_reference(cells["reference"])
            if answer is None:
                result.problems.append(
                    Problem(
                        data.file,
                        f"no known answer: no answer cell, and no match of {rule.pattern!r} in the reference",
                        line,
                        columns.get("reference"),
                    )
                )
                continue
            index = len(result.questions)
            result.questions.append(Question(index, cells["question"], answer.strip(), cells.get("reference"), line))
    if len(result.questions) > MAX_QUESTIONS:
        result.problems.append(
            Problem(data.file, f"{len(result.questions)} questions; at most {MAX_QUESTIONS} at once")
        )
    return result


def read_questions(raw: bytes, name: str, rule: AnswerRule | None = None) -> QuestionSet:
    """The questions of one uploaded file (CSV, JSONL or JSON). Never raises on bad content."""
    rule = rule or AnswerRule()
    data = load_examples(raw, name)
    if data.format not in FORMATS and not data.problems:
        return QuestionSet(name, problems=[Problem(name, f"questions come as {', '.join('.' + f for f in FORMATS)}")])
    found = questions_from(data, rule)
    found.read_as = data.encoding if data.encoding_detected else ""
    return found


def read_questions_file(path: str, rule: AnswerRule | None = None) -> QuestionSet:
    from pathlib import Path

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return QuestionSet(Path(path).name, problems=[Problem(Path(path).name, f"cannot read: {exc.strerror}")])
    return read_questions(raw, Path(path).name, rule)
