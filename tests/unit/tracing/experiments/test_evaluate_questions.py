"""Evaluating the offline chat model on question sets, each figure checked against an independent one: the
fine-tune job's own held-out exact match, a plain full forward pass for the departure, a rerun by seed."""

from __future__ import annotations

import csv
import io

import pytest
import torch

from finetune.evaluate import evaluate_heldout
from tests.conftest import REPO
from tracing.core.decode import render_prompt, trace_generation
from tracing.core.trace import DecodingSettings, load_trace
from tracing.experiments.departure import departure, departures_of_greedy_traces, reference_ids
from tracing.experiments.evaluate_questions import evaluate_model
from tracing.experiments.evaluation import Evaluation, EvaluationSettings, load_evaluation, reliability
from tracing.experiments.questions import Question, read_questions_file

pytestmark = pytest.mark.slow
ADDITION_TEST = REPO / "data/samples/addition_test.jsonl"


@pytest.fixture(scope="module")
def addition():
    return read_questions_file(str(ADDITION_TEST)).questions


@pytest.fixture(scope="module")
def base_run(smollm, addition, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluation")
    return evaluate_model(smollm, addition, EvaluationSettings(max_new_tokens=64), trace_folder=folder), folder


def test_base_accuracy_on_the_held_out_split_equals_the_fine_tune_jobs(smollm, addition, base_run):
    """Both on the 40 held-out questions of the bundled sample, greedy, 64 new tokens (the job's settings)."""
    run, _ = base_run
    examples = [{"prompt": q.question, "response": q.reference} for q in addition]
    job = evaluate_heldout(smollm.model, smollm.tokenizer, examples, "causal-lm", max_length=128, max_new_tokens=64)
    assert len(run.results) == 40
    assert run.accuracy == job["exact_match"]
    assert [r.text for r in run.results[:10]] == [e["output"] for e in job["examples"]]


def test_each_result_holds_its_trace_and_a_probability_for_its_answer(smollm, addition, base_run):
    run, folder = base_run
    for question, result in zip(addition[:5], run.results[:5], strict=True):
        trace = load_trace(folder / result.trace_file)
        assert trace.text == result.text and trace.prompt == question.question
        assert result.answer is None or result.answer in result.text.replace(",", "")
        if result.answer is not None:
            assert 0 < result.answer_prob <= max(m.prob for m in trace.moments)
        assert result.departure is not None  # the base model never writes "Ones: ..."
        assert trace.moments[result.departure.moment].token_id == result.departure.model_id


def test_results_save_and_load_equal_and_export_as_csv(addition, base_run, tmp_path):
    run, _ = base_run
    evaluation = Evaluation("addition_test.jsonl", list(addition), EvaluationSettings(), [run])
    again = load_evaluation(evaluation.save(tmp_path / "e.json"))
    assert again == evaluation
    rows = list(csv.DictReader(io.StringIO(evaluation.csv_text())))
    assert len(rows) == 40 and list(rows[0])[:6] == [
        "index",
        "line",
        "question",
        "expected",
        "model_answer",
        "model_correct",
    ]
    assert [row["model_text"] for row in rows] == [r.text for r in run.results]
    bins = reliability(run.results)
    assert sum(b.count for b in bins) == 40
    assert sum(b.accuracy * b.count for b in bins) == pytest.approx(run.correct)


def test_the_departure_equals_a_plain_teacher_forced_pass(smollm):
    """The reference follows the model's own greedy tokens for six tokens, then says something else."""
    question = "What is 12 + 30? Think step by step."
    greedy = trace_generation(smollm, question, DecodingSettings(max_new_tokens=8), attention=False)
    reference = greedy.generated_ids[:6] + reference_ids(smollm.tokenizer, " banana bread")
    found = departure(smollm, greedy.prompt_ids, reference)

    ids = torch.tensor([greedy.prompt_ids + reference])
    with torch.inference_mode():
        logits = smollm.model(input_ids=ids, use_cache=False).logits[0].float()
    rows = logits[greedy.prompt_len - 1 : -1]
    argmax = rows.argmax(-1).tolist()
    expected = next(i for i, (a, r) in enumerate(zip(argmax, reference, strict=True)) if a != r)
    probs = rows[expected].softmax(-1)
    assert found.moment == expected == 6
    assert found.reference_id == reference[6] and found.model_id == argmax[6]
    assert found.reference_prob == pytest.approx(float(probs[reference[6]]), rel=1e-4)
    assert found.reference_rank == int((probs > probs[reference[6]]).sum()) + 1
    assert departure(smollm, greedy.prompt_ids, greedy.generated_ids[:6]) is None


def test_departures_read_off_greedy_traces_equal_teacher_forcing_the_whole_reference(smollm):
    """One position read again per question (batched) gives what a pass over the whole reference gives: a
    departure after six tokens, at the first token, none where the model follows the reference to its end,
    and a trace that ended still on a longer reference (teacher-forced in full)."""
    question = "What is 12 + 30? Think step by step."
    long = trace_generation(smollm, question, DecodingSettings(max_new_tokens=16), attention=False)
    short = trace_generation(smollm, question, DecodingSettings(max_new_tokens=8), attention=False)
    banana = reference_ids(smollm.tokenizer, " banana bread")
    cases = [
        (short, short.generated_ids[:6] + banana),
        (short, banana),
        (short, short.generated_ids[:6]),
        (short, long.generated_ids[:12] + banana),  # the 8-token trace ends on it
        (short, None),
    ]
    found = departures_of_greedy_traces(smollm, [t for t, _ in cases], [r for _, r in cases])
    expected = [departure(smollm, t.prompt_ids, r) if r else None for t, r in cases]
    assert [d.moment if d else None for d in found] == [6, 0, None, 12, None]
    for mine, theirs in zip(found, expected, strict=True):
        if theirs is None:
            assert mine is None
            continue
        assert (mine.moment, mine.reference_id, mine.reference_rank, mine.model_id) == (
            theirs.moment,
            theirs.reference_id,
            theirs.reference_rank,
            theirs.model_id,
        )
        assert mine.reference_prob == pytest.approx(theirs.reference_prob, rel=1e-4)
        assert mine.model_prob == pytest.approx(theirs.model_prob, rel=1e-4)
        assert mine.reference_token == theirs.reference_token and mine.model_token == theirs.model_token


def test_consistency_over_sampled_paths_reproduces_by_seed(smollm):
    questions = [
        Question(0, "What is 2 + 3? End with 'Answer: N'.", "5"),
        Question(1, "小明有3个苹果，又买了4个，一共几个？", "7"),
    ]
    settings = EvaluationSettings(max_new_tokens=24, paths=3, seed=11, temperature=1.0, top_p=1.0)
    first = evaluate_model(smollm, questions, settings)
    again = evaluate_model(smollm, questions, settings)
    assert [r.paths for r in first.results] == [r.paths for r in again.results]
    assert first.results[0].paths.seeds == [11, 12, 13]
    for result, question in zip(first.results, questions, strict=True):
        paths = result.paths
        assert len(paths.answers) == 3
        if paths.majority is not None:
            assert paths.agreement == paths.answers.count(paths.majority) / 3
        assert paths.majority_correct == (paths.majority == question.answer)


def test_bad_settings_are_refused_before_any_decoding(smollm):
    with pytest.raises(ValueError, match="paths must be 0"):
        evaluate_model(smollm, [Question(0, "2+2?", "4")], EvaluationSettings(paths=1))
    with pytest.raises(ValueError, match="not a valid regular expression"):
        evaluate_model(smollm, [Question(0, "2+2?", "4")], EvaluationSettings(answer_pattern="(("))


def test_the_prompt_is_the_fine_tune_jobs(smollm):
    from finetune.encoding import prompt_text

    rendered, _ = render_prompt(smollm, "What is 1 + 1?")
    assert rendered == prompt_text({"prompt": "What is 1 + 1?", "response": "2"}, smollm.tokenizer)
