"""Validation of bad data files: every problem names the file, the line and the column."""

from __future__ import annotations

import json

import pytest

from datafiles.rows import load_examples
from finetune.mapping import ColumnMapping
from finetune.validation import check_data

GOOD = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(10)]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def problems_of(raw: bytes, name: str, mapping=None, **kwargs) -> list[str]:
    return [str(p) for p in check_data(load_examples(raw, name), mapping, **kwargs).problems]


def test_good_jsonl_is_usable():
    report = check_data(load_examples(jsonl(GOOD), "ok.jsonl"))
    assert report.ok and len(report.examples) == 10
    assert report.mapping == ColumnMapping("prompt-response", {"prompt": "prompt", "response": "response"})


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        (
            "bad.jsonl",
            jsonl(GOOD[:3]) + b'{"prompt": "x", "response": }\n' + jsonl(GOOD[3:]),
            "bad.jsonl, line 4, column 29: malformed JSON: Expecting value",
        ),
        ("bin.csv", b"prompt,response\n" + b"caf\xe9\x00,ok\n", "bin.csv, line 2, column 4: not UTF-8 text (byte 0xe9"),
        (
            "dupe.csv",
            b"prompt,response,prompt\na,b,c\n",
            "dupe.csv, line 1, column 'prompt': duplicate header 'prompt'",
        ),
        (
            "empty.jsonl",
            jsonl(GOOD[:5] + [{"prompt": "q", "response": "  "}] + GOOD[5:]),
            "empty.jsonl, line 6, column 'response': empty value",
        ),
        (
            "missing.jsonl",
            jsonl(GOOD[:7] + [{"prompt": "q"}] + GOOD[7:]),
            "missing.jsonl, line 8, column 'response': missing column",
        ),
        (
            "types.jsonl",
            jsonl(GOOD[:2] + [{"prompt": 42, "response": "a"}] + GOOD[2:]),
            "types.jsonl, line 3, column 'prompt': expected text, found number",
        ),
        ("few.jsonl", jsonl(GOOD[:3]), "few.jsonl: too few examples: 3 usable, at least 8 needed"),
        (
            "short.csv",
            b"prompt,response\n" + b"a,b\n" * 9 + b"a,b,c\n",
            "short.csv, line 11: row has 3 fields, the header has 2",
        ),
        (
            "broken.json",
            b'[{"prompt": "a",\n "response": "b"},\n {"prompt" "c"}]',
            "broken.json, line 3, column 12: malformed JSON",
        ),
        ("notes.docx", b"whatever", "notes.docx: unknown file type"),
    ],
)
def test_bad_file_names_line_and_column(name, raw, expected):
    problems = problems_of(raw, name)
    assert any(p.startswith(expected) for p in problems), problems


def test_mixed_label_types_point_at_the_odd_row():
    rows = [{"text": f"t{i}", "label": i % 2} for i in range(10)] + [{"text": "t", "label": "pos"}]
    problems = problems_of(jsonl(rows), "mixed.jsonl", task="classification")
    assert any("mixed.jsonl, line 11, column 'label': mixed types in the label column" in p for p in problems), problems


def test_texts_longer_than_the_context_are_named(smollm):
    rows = GOOD[:9] + [{"prompt": "word " * 300, "response": "x"}]
    problems = problems_of(jsonl(rows), "long.jsonl", tokenizer=smollm.tokenizer, max_context=200)
    assert any(p.startswith("long.jsonl, line 10:") and "longer than the model's context of 200" in p for p in problems)


def test_plain_text_is_one_example_per_line():
    raw = "\n".join(f"line {i}" for i in range(12)).encode()
    report = check_data(load_examples(raw, "corpus.txt"))
    assert report.ok and report.mapping.style == "text" and len(report.examples) == 12
    assert report.examples[3] == {"line": 4, "text": "line 3"}


def test_chat_messages_are_checked():
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]}
    problems = problems_of(jsonl([good] * 8 + [bad]), "chat.jsonl")
    assert problems == [
        "chat.jsonl, line 9, column 'messages': message 2 has role 'robot'; use ('system', 'user', 'assistant')"
    ]


def test_size_limit():
    assert problems_of(jsonl(GOOD), "big.jsonl") == []
    data = load_examples(jsonl(GOOD), "big.jsonl", max_bytes=100)
    assert "the limit is" in str(data.problems[0])
