"""A fine-tune job's data, read, checked and split: train, validation and the held-out split (its test file,
else its validation split, cut at ``test_limit``), with the labels of a classifier and the probes' examples."""

from __future__ import annotations

from dataclasses import dataclass, field

from datafiles.rows import load_file
from finetune.config import TrainConfig
from finetune.mapping import ColumnMapping, label_names
from finetune.validation import check_data, split_examples
from model_zoo.kinds import ENCODER


class DataError(ValueError):
    """The data files are not usable; the message lists every problem."""


@dataclass
class PreparedData:
    train: list[dict]
    validation: list[dict]
    test: list[dict]
    labels: list[str] = field(default_factory=list)
    test_source: str = "test"
    probes: list[dict] = field(default_factory=list)  # held-out examples when there are any, else training ones


def _read(path: str, mapping: ColumnMapping | None, task: str, tokenizer, max_context, max_length, min_examples=1):
    report = check_data(
        load_file(path),
        mapping,
        task=task,
        tokenizer=tokenizer,
        max_context=max_context,
        max_length=max_length,
        min_examples=min_examples,
    )
    if not report.ok:
        raise DataError("\n".join(str(p) for p in report.problems))
    return report


def prepare_data(config: TrainConfig, tokenizer, max_context: int | None) -> PreparedData:
    """Reads, validates and splits the data files named by the config; raises DataError listing problems."""
    mapping = ColumnMapping.from_dict(config.mapping) if config.mapping else None
    report = _read(config.train_file, mapping, config.task, tokenizer, max_context, config.max_length, 8)
    mapping = report.mapping
    train, validation = report.examples, []
    if config.validation_file:
        validation = _read(
            config.validation_file, mapping, config.task, tokenizer, max_context, config.max_length
        ).examples
    else:
        train, validation = split_examples(train, config.validation_fraction, config.seed)
    test, source = [], "test"
    if config.test_file:
        test = _read(config.test_file, mapping, config.task, tokenizer, max_context, config.max_length).examples
    else:
        test, source = validation, "validation"
    labels = label_names(train + validation + test) if config.task == ENCODER.finetune_task else []
    answered = [e for e in (test or train) if "prompt" in e or "messages" in e]
    return PreparedData(train, validation, test[: config.test_limit], labels, source, answered[: config.probe_count])
