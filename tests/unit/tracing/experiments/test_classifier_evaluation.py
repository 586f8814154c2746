"""A labelled file through a tiny classifier: every row's probabilities equal the decision on that row alone
(batched with padding changes nothing), the confusion matrix, precision, recall and accuracy equal counts
made by hand from those decisions, and rows that cannot be used are named by line."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.tracing.encoders.conftest import LABELS, encoder_folders, encoder_tokenizer  # noqa: F401
from tracing.encoders.decision import decide, load_classifier
from tracing.experiments.classifier_evaluation import evaluate_classifier
from tracing.experiments.evaluation import wilson_interval

ROWS = [
    ("a wonderful film", "positive", "would watch again"),
    ("slow and dull", "negative", ""),
    ("it was fine I suppose", "neutral", "nothing more"),
    ("这部电影很好看", "positive", ""),
    ("the ending was lazy and the plot a mess", "negative", "two hours lost"),
    ("great cast", "happy", ""),  # a label the classifier does not have
    ("", "neutral", ""),  # no text
    ("a long film with a short story", "1", ""),  # a class given by index
]
CSV = "text,label,pair\n" + "".join(f'"{t}",{label},"{p}"\n' for t, label, p in ROWS)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_metrics_equal_counts_of_single_decisions(family, encoder_folders):  # noqa: F811
    loaded = load_classifier(encoder_folders[family], device="cpu")
    result = evaluate_classifier(loaded, CSV.encode(), "reviews.csv")
    used = [0, 1, 2, 3, 4, 7]
    assert result.lines == [i + 2 for i in used] and result.labels == LABELS
    assert [(p.line, p.message.split(":")[0]) for p in result.problems] == [(7, "left out"), (8, "left out")]
    assert "'happy' is not one of" in result.problems[0].message
    singles = [decide(loaded, ROWS[i][0], ROWS[i][2] or None) for i in used]
    np.testing.assert_allclose(result.probs, np.stack([d.probs for d in singles]), atol=1e-5)
    gold = [LABELS.index(ROWS[i][1]) if ROWS[i][1] in LABELS else int(ROWS[i][1]) for i in used]
    predicted = [d.predicted for d in singles]
    confusion = np.zeros((3, 3), dtype=int)
    for g, p in zip(gold, predicted, strict=True):
        confusion[g, p] += 1
    assert result.confusion.tolist() == confusion.tolist()
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    assert result.accuracy == correct / len(used) and result.interval == wilson_interval(correct, len(used))
    for i, row in enumerate(result.per_class()):
        assert row["recall"] == (confusion[i, i] / confusion[i].sum() if confusion[i].sum() else None)
        assert row["precision"] == (confusion[i, i] / confusion[:, i].sum() if confusion[:, i].sum() else None)
    assert sorted(result.wrong) == [k for k in range(len(used)) if gold[k] != predicted[k]]


def test_columns_that_cannot_be_found_are_named(encoder_folders):  # noqa: F811
    loaded = load_classifier(encoder_folders["bert"], device="cpu")
    with pytest.raises(ValueError, match="name the text and label columns"):
        evaluate_classifier(loaded, b"a,b\nx,y\n", "odd.csv")
    with pytest.raises(ValueError, match="no column 'words'"):
        evaluate_classifier(loaded, CSV.encode(), "reviews.csv", text_column="words")
