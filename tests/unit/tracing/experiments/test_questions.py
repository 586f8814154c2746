"""Reading question sets: columns found by name, answers from references, and every problem named with its
file, line and column."""

from __future__ import annotations

import json

from datafiles.answers import AnswerRule
from tests.conftest import REPO
from tracing.experiments.questions import QuestionSet, read_questions, read_questions_file


def test_a_chinese_csv_with_answers_and_references():
    raw = '问题,答案,解答\n3 加 4 等于几？,7,先算 3 + 4。Answer: 7\n"1,000 + 24?","1,024",\n'.encode()
    found = read_questions(raw, "q.csv")
    assert found.problems == []
    assert [(q.question, q.answer, q.reference) for q in found.questions] == [
        ("3 加 4 等于几？", "7", "先算 3 + 4。Answer: 7"),
        ("1,000 + 24?", "1,024", None),
    ]
    assert found.columns == {"question": "问题", "answer": "答案", "reference": "解答"}


def test_english_csv_rows_keep_their_lines():
    raw = b"question,answer\nWhat is 2 + 2?,4\n\nWhat is 3 + 3?,6\n"
    found = read_questions(raw, "q.csv")
    assert found.ok
    assert [(q.index, q.answer, q.line) for q in found.questions] == [(0, "4", 2), (1, "6", 4)]
    assert all(q.reference is None for q in found.questions)


def test_the_bundled_addition_file_reads_its_answers_from_the_references():
    found = read_questions_file(str(REPO / "data/samples/addition_test.jsonl"))
    assert found.ok and len(found.questions) == 40
    first = found.questions[0]
    assert first.question == "What is 20 + 35? Add column by column." and first.answer == "55"
    assert first.reference.endswith("Answer: 55")


def test_jsonl_numbers_are_answers_and_bad_cells_are_named():
    lines = [
        {"question": "2 + 2?", "answer": 4},
        {"question": "", "answer": "1"},
        {"question": "3 + 3?", "answer": True},
        {"answer": "9"},
    ]
    raw = ("\n".join(json.dumps(x) for x in lines) + "\n{not json\n").encode()
    found = read_questions(raw, "q.jsonl")
    messages = [str(p) for p in found.problems]
    assert found.questions[0].answer == "4"
    assert "q.jsonl, line 5, column 2: malformed JSON" in messages[0]
    assert "q.jsonl, line 2, column 'question': the question is empty" in messages
    assert "q.jsonl, line 3, column 'answer': expected text for the answer, found a boolean" in messages
    assert "q.jsonl, line 4, column 'question': no question on this line" in messages


def test_files_without_the_needed_columns_say_which_they_have():
    found = read_questions(b"a,b\n1,2\n", "q.csv")
    assert not found.ok and "no question column among ['a', 'b']" in found.message()
    found = read_questions(b"question,note\n1+1?,easy\n", "q.csv")
    assert "no answer column among ['question', 'note']" in found.message()


def test_a_reference_without_the_pattern_gives_no_known_answer():
    raw = b'{"prompt": "2+2?", "response": "It is four."}\n'
    found = read_questions(raw, "q.jsonl", AnswerRule())
    assert not found.ok
    assert "q.jsonl, line 1, column 'response': no known answer" in found.message()


def test_a_gbk_file_is_read_as_detected_and_says_so_and_undecodable_bytes_are_refused_with_a_place():
    found = read_questions("question,answer\n三,3\n".encode("gbk"), "q.csv")
    assert found.ok and found.questions[0].question == "三" and found.read_as.lower() in {"gbk", "gb2312", "gb18030"}
    assert read_questions("question,answer\n三,3\n".encode(), "q.csv").read_as == ""
    refused = read_questions(b"question,answer\n" + bytes(range(128, 256)) * 4, "q.csv")
    assert "q.csv, line 2, column 1: not UTF-8 text" in refused.message()
    assert "questions come as" in read_questions(b"2+2?\n", "q.txt").message()
    assert "unknown file type" in read_questions(b"x", "q.xlsx").message()


def test_a_question_set_saves_as_a_dict_and_back():
    found = read_questions(b"question,answer,reference\n2+2?,4,Answer: 4\n", "q.csv")
    assert QuestionSet.from_dict(found.to_dict()).questions == found.questions
