"""Reading the rows of an uploaded data file (a fine-tune data set, a question set): CSV, JSONL, JSON or plain
text, one row per line or item.

Every problem found names the file, the line (or row) and the column it is in, so a user can fix the file;
nothing here raises on bad input: ``load_examples`` returns the rows it could read plus the problems.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from datafiles.text_decoding import DecodedText, encoding_label, read_text

FORMATS = ("csv", "jsonl", "json", "txt")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
TEXT_COLUMN = "text"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a data file. ``line`` is 1-based (the file's line, or the row for JSON arrays)."""

    file: str
    message: str
    line: int | None = None
    column: str | int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}" if isinstance(self.column, str) else f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class LoadedData:
    """The rows read from one file (dicts of column -> value), where each came from, and what was wrong."""

    file: str
    format: str
    rows: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    encoding: str = "utf-8"  # the Python codec the text was read with
    encoding_detected: bool = False  # a guess by detection, for the user to accept, rather than certain

    @property
    def encoding_note(self) -> str:
        """Says, e.g., 'read as GBK (detected, not UTF-8)' when the encoding is a guess; empty otherwise."""
        return f"read as {encoding_label(self.encoding)} (detected, not UTF-8)" if self.encoding_detected else ""

    @property
    def ok(self) -> bool:
        return not self.problems


def detect_format(name: str) -> str | None:
    suffix = Path(name).suffix.lower().lstrip(".")
    return {"ndjson": "jsonl", "text": "txt", "tsv": None}.get(suffix, suffix if suffix in FORMATS else None)


def decode(raw: bytes, name: str, encoding: str | None = None) -> tuple[DecodedText, Problem | None]:
    """The file as text (UTF-8, UTF-16 with a BOM, or a detected encoding; see datafiles/text_decoding.py), or
    a problem naming the line and column of the first byte that could not be read."""
    decoded = read_text(raw, encoding)
    if decoded.text is not None:
        return decoded, None
    before = raw[: decoded.bad_offset]
    line = before.count(b"\n") + 1
    column = decoded.bad_offset - (before.rfind(b"\n") + 1) + 1
    byte = raw[decoded.bad_offset] if decoded.bad_offset < len(raw) else 0
    wanted = decoded.label if encoding else "UTF-8"
    advice = "" if encoding else " and its encoding could not be told with confidence"
    return decoded, Problem(
        name,
        f"not {wanted} text (byte 0x{byte:02x} cannot be decoded){advice}; save the file as UTF-8",
        line,
        column,
    )


def _load_jsonl(text: str, data: LoadedData) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            data.problems.append(Problem(data.file, f"malformed JSON: {exc.msg}", number, exc.colno))
            continue
        if not isinstance(value, dict):
            data.problems.append(Problem(data.file, f"expected a JSON object, found {type(value).__name__}", number))
            continue
        data.rows.append(value)
        data.lines.append(number)


def _load_json(text: str, data: LoadedData) -> None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        data.problems.append(Problem(data.file, f"malformed JSON: {exc.msg}", exc.lineno, exc.colno))
        return
    if isinstance(value, dict):  # {"data": [...]} or {"train": [...]} style wrappers
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if len(lists) == 1 else value
    if not isinstance(value, list):
        data.problems.append(Problem(data.file, "expected a JSON array of objects (one object per example)", 1))
        return
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            data.problems.append(Problem(data.file, f"item {index} is a {type(item).__name__}, not an object", index))
            continue
        data.rows.append(item)
        data.lines.append(index)


def _load_csv(text: str, data: LoadedData) -> None:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    for position, name in enumerate(header, start=1):
        if not name:
            data.problems.append(Problem(data.file, f"header cell {position} is empty", 1, position))
        elif header.index(name) != position - 1:
            data.problems.append(Problem(data.file, f"duplicate header {name!r}", 1, name))
    if data.problems:
        return
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                data.problems.append(
                    Problem(data.file, f"row has {len(cells)} fields, the header has {len(header)}", line)
                )
                continue
            data.rows.append(dict(zip(header, cells, strict=True)))
            data.lines.append(line)
    except csv.Error as exc:
        data.problems.append(Problem(data.file, f"unreadable CSV: {exc}", reader.line_num))


def _load_txt(text: str, data: LoadedData) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            data.rows.append({TEXT_COLUMN: line.rstrip("\r")})
            data.lines.append(number)


READERS = {"jsonl": _load_jsonl, "json": _load_json, "csv": _load_csv, "txt": _load_txt}


def _columns(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def load_examples(
    raw: bytes, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES, fmt: str | None = None, encoding: str | None = None
) -> LoadedData:
    """Reads the rows of one uploaded file (in ``encoding`` when given, else see ``decode``). Never raises on
    bad content: problems are listed instead."""
    fmt = fmt or detect_format(name)
    data = LoadedData(file=name, format=fmt or "?")
    if fmt is None:
        data.problems.append(Problem(name, f"unknown file type; use one of: {', '.join('.' + f for f in FORMATS)}"))
        return data
    if len(raw) > max_bytes:
        data.problems.append(Problem(name, f"file is {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB"))
        return data
    decoded, problem = decode(raw, name, encoding)
    if problem:
        data.problems.append(problem)
        return data
    data.encoding, data.encoding_detected = decoded.encoding, decoded.detected
    READERS[fmt](decoded.text, data)
    data.columns = _columns(data.rows)
    if not data.rows and not data.problems:
        data.problems.append(Problem(name, "the file holds no examples"))
    return data


def load_file(path: str | Path, **kwargs) -> LoadedData:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return LoadedData(file=path.name, format="?", problems=[Problem(path.name, f"cannot read: {exc.strerror}")])
    return load_examples(raw, path.name, **kwargs)
