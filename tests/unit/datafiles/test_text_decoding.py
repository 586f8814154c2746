"""Uploads in other encodings than UTF-8: read directly when the bytes say what they are (UTF-8 with or
without a BOM, UTF-16 with a BOM), detected and marked as a guess otherwise, refused when detection is unsure."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys

import pytest

from datafiles.rows import load_examples
from datafiles.text_decoding import read_text
from finetune.validation import check_data

CHINESE = [
    ("小明有三个苹果，吃了一个，还剩几个？", "还剩两个。"),
    ("今天天气怎么样？", "今天是晴天，很暖和。"),
    ("北京是哪个国家的首都？", "北京是中国的首都。"),
    ("一年有几个月？", "一年有十二个月。"),
]
WESTERN = [
    ("Où est le café?", "Près de la gare, à côté du marché."),
    ("Qu'est-ce qu'une crème brûlée?", "Un dessert français très sucré."),
    ("Wie groß ist der Baum?", "Sehr groß, ungefähr zwölf Meter."),
    ("¿Dónde está la estación?", "Está en el centro, señor."),
]


def csv_text(pairs) -> str:
    return "prompt,response\n" + "".join(f'"{q}","{a}"\n' for q, a in pairs * 3)


@pytest.mark.parametrize(
    ("raw", "encoding", "pairs"),
    [
        (csv_text(CHINESE).encode("utf-8"), "utf-8", CHINESE),
        (codecs.BOM_UTF8 + csv_text(CHINESE).encode("utf-8"), "utf-8", CHINESE),
        (csv_text(CHINESE).encode("utf-16"), "utf-16", CHINESE),  # Python writes the BOM
        (codecs.BOM_UTF16_BE + csv_text(WESTERN).encode("utf-16-be"), "utf-16", WESTERN),
    ],
)
def test_utf8_and_utf16_are_read_directly(raw, encoding, pairs):
    data = load_examples(raw, "data.csv")
    assert data.ok and not data.encoding_detected and data.encoding == encoding and data.encoding_note == ""
    assert data.columns == ["prompt", "response"]  # no BOM left in the first header
    assert [(r["prompt"], r["response"]) for r in data.rows[:4]] == pairs


def test_a_gbk_csv_in_chinese_is_detected_and_read_as_gbk():
    raw = csv_text(CHINESE).encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    data = load_examples(raw, "表格.csv")
    assert data.ok and data.encoding_detected
    assert data.encoding_note == "read as GBK (detected, not UTF-8)"
    assert [(r["prompt"], r["response"]) for r in data.rows[:4]] == CHINESE


def test_a_latin1_csv_is_detected_and_reads_back_exactly():
    raw = csv_text(WESTERN).encode("latin-1")
    data = load_examples(raw, "western.csv")
    assert data.ok and data.encoding_detected and "Latin-1" in data.encoding_note
    assert [(r["prompt"], r["response"]) for r in data.rows[:4]] == WESTERN


def test_a_binary_file_is_refused_naming_the_first_bad_byte():
    raw = b"prompt,response\nok,fine\n" + b"\x89PNG\r\n\x1a\n\x00\x00" + os.urandom(400)
    data = load_examples(raw, "picture.csv")
    assert not data.rows and not data.encoding_detected
    (problem,) = data.problems
    assert str(problem).startswith("picture.csv, line 3, column 1: not UTF-8 text (byte 0x89")
    assert "could not be told with confidence" in str(problem)


def test_a_named_encoding_is_used_as_given():
    raw = csv_text(CHINESE).encode("gbk")
    assert read_text(raw, "gbk").text == csv_text(CHINESE)
    assert read_text(raw, "utf-8").text is None


def test_a_guessed_mapping_is_reported_on_the_command_line(tmp_path):
    rows = "foo,bar\n" + "".join(f"question {i},answer {i}\n" for i in range(10))
    path = tmp_path / "unnamed.csv"
    path.write_bytes(rows.encode("gbk"))
    report = check_data(load_examples(path.read_bytes(), path.name))
    assert report.ok and report.mapping.by_position and report.mapping.columns == {"prompt": "foo", "response": "bar"}
    out = subprocess.run(
        [sys.executable, "-m", "finetune", "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "mapping: a guess from the column order" in out.stdout and "'foo' as prompt" in out.stdout


def test_a_gbk_file_with_a_guessed_mapping_says_both_on_the_command_line(tmp_path):
    path = tmp_path / "中文.csv"
    path.write_bytes(csv_text(CHINESE).replace("prompt,response", "问题,回答").encode("gbk"))
    out = subprocess.run(
        [sys.executable, "-m", "finetune", "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "encoding: read as GBK (detected, not UTF-8)" in out.stdout
    assert "'问题' as prompt" in out.stdout
