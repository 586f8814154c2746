"""A labelled text file through a classifier: accuracy with its Wilson interval, the confusion matrix,
per-class precision and recall, and the rows it got wrong.

The file is read with the uploads' reader (`datafiles.rows`: CSV, JSONL, JSON; encodings; problems with file,
line and column). Columns are named, or found by their names (``text``, ``label``, ``pair``...). A row whose
label the classifier does not know is a problem naming its line. Result types are torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datafiles.rows import LoadedData, Problem, load_examples
from tracing.experiments.evaluation import wilson_interval

TEXT_NAMES = ("text", "sentence", "review", "content", "input", "文本", "句子")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "标签", "类别")
PAIR_NAMES = ("pair", "text_pair", "sentence2", "hypothesis", "second")
BATCH = 16


@dataclass
class ClassifierEvaluation:
    """Every row's gold class and the classifier's probabilities; the metrics follow from them."""

    model: str
    file: str
    labels: list[str]  # the classifier's classes, index order
    texts: list[str]
    pairs: list[str | None]
    lines: list[int]  # each row's line in the file
    gold: np.ndarray  # int64 [rows]
    probs: np.ndarray  # float32 [rows, labels]
    problems: list[Problem] = field(default_factory=list)  # rows left out, and why

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(-1)

    @property
    def correct(self) -> int:
        return int((self.predicted == self.gold).sum())

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.gold) if len(self.gold) else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, len(self.gold))

    @property
    def confusion(self) -> np.ndarray:
        """int64 ``[gold, predicted]`` counts."""
        matrix = np.zeros((len(self.labels), len(self.labels)), dtype=np.int64)
        np.add.at(matrix, (self.gold, self.predicted), 1)
        return matrix

    def per_class(self) -> list[dict]:
        """Each class's precision, recall and support (precision None when it was never predicted)."""
        matrix = self.confusion
        rows = []
        for i, name in enumerate(self.labels):
            predicted, support = int(matrix[:, i].sum()), int(matrix[i].sum())
            rows.append({
                "class": name,
                "precision": matrix[i, i] / predicted if predicted else None,
                "recall": matrix[i, i] / support if support else None,
                "support": support,
            })  # fmt: skip
        return rows

    @property
    def wrong(self) -> list[int]:
        """Rows it got wrong, the most confident mistakes first."""
        rows = np.flatnonzero(self.predicted != self.gold)
        return sorted(rows.tolist(), key=lambda r: -float(self.probs[r].max()))


def _column(columns: list[str], asked: str | None, names: tuple[str, ...], what: str, file: str) -> str | None:
    if asked:
        if asked not in columns:
            raise ValueError(f"{file}: there is no column '{asked}' for the {what} (columns: {', '.join(columns)}).")
        return asked
    return next((c for c in columns if c.strip().lower() in names), None)


def labelled_rows(data: LoadedData, labels: list[str], *, text_column=None, label_column=None, pair_column=None):
    """(texts, pairs, lines, gold, problems) of a read file; ValueError when its columns cannot be found."""
    if not data.rows:
        raise ValueError("; ".join(p.message for p in data.problems) or f"{data.file} holds no rows.")
    text = _column(data.columns, text_column, TEXT_NAMES, "text", data.file)
    label = _column(data.columns, label_column, LABEL_NAMES, "label", data.file)
    pair = _column(data.columns, pair_column, PAIR_NAMES, "second segment", data.file)
    if text is None or label is None:
        raise ValueError(
            f"{data.file}: name the text and label columns (found {', '.join(data.columns)}; looked for a text "
            f"column such as 'text' and a label column such as 'label')."
        )
    texts, pairs, lines, gold, problems = [], [], [], [], list(data.problems)
    for row, line in zip(data.rows, data.lines, strict=True):
        value = str(row.get(label, "")).strip()
        index = labels.index(value) if value in labels else int(value) if value.isdigit() else -1
        if not 0 <= index < len(labels) or not str(row.get(text, "")).strip():
            why = "an empty text" if not str(row.get(text, "")).strip() else f"label '{value}' is not one of {labels}"
            problems.append(Problem(data.file, f"left out: {why}", line, label))
            continue
        texts.append(str(row[text]))
        pairs.append(str(row[pair]) if pair and row.get(pair) else None)
        lines.append(line)
        gold.append(index)
    return texts, pairs, lines, np.asarray(gold, dtype=np.int64), problems


def class_probabilities(loaded, texts: list[str], pairs: list[str | None]) -> np.ndarray:
    """float32 ``[rows, labels]``, rows read in padded batches through the seam."""
    import torch

    from tracing.encoders.decision import model_inputs

    out = []
    limit = min(loaded.max_context or 512, 512)
    for start in range(0, len(texts), BATCH):
        # each row read alone (a row without a second segment gets none), then padded into one batch
        rows = [loaded.tokenizer(text, pair, truncation=True, max_length=limit)
                for text, pair in zip(texts[start : start + BATCH], pairs[start : start + BATCH], strict=True)]  # fmt: skip
        encoded = loaded.tokenizer.pad(rows, return_tensors="pt")
        with torch.inference_mode():
            out.append(loaded.forward(**model_inputs(loaded, encoded)).logits.float().softmax(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def evaluate_classifier(loaded, raw: bytes, name: str, **columns) -> ClassifierEvaluation:
    """A labelled file (its bytes and name, as uploaded) through ``loaded``."""
    from tracing.encoders.decision import check_classifier, label_names

    check_classifier(loaded)
    labels = label_names(loaded)
    texts, pairs, lines, gold, problems = labelled_rows(load_examples(raw, name), labels, **columns)
    if not texts:
        raise ValueError(f"{name}: no row could be used ({'; '.join(p.message for p in problems[:3])}).")
    probs = class_probabilities(loaded, texts, pairs)
    return ClassifierEvaluation(loaded.identity.name, name, labels, texts, pairs, lines, gold, probs, problems)


def evaluate_file(loaded, path: str | Path, **columns) -> ClassifierEvaluation:
    path = Path(path)
    return evaluate_classifier(loaded, path.read_bytes(), path.name, **columns)
