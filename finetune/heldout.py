"""A fine-tune job's held-out split as a question set: the examples it measured its exact match on (its test
file, else its validation split, cut at its ``test_limit``), written to the job's folder as a JSONL file an
evaluation reads like any upload (`jobs.launcher.heldout_path`). Written when an evaluation of it starts, so a
job trained before that step is evaluated the same way."""

from __future__ import annotations

import json
from pathlib import Path

from datafiles.rows import Problem
from jobs.launcher import heldout_path


def heldout_rows(job_config: dict) -> tuple[list[dict], list[Problem]]:
    """The held-out examples of the job whose stored settings are ``job_config``, as question rows
    (``question`` and ``reference``, or a chat's ``messages``), and the problems reading them."""
    from finetune.config import TrainConfig
    from finetune.prepared_data import DataError, prepare_data

    config = TrainConfig.from_dict({k: v for k, v in job_config.items() if k in TrainConfig.__dataclass_fields__})
    source = f"held-out split of job {config.job_id}" if config.job_id else "held-out split"
    try:
        examples = prepare_data(config, None, None).test
    except DataError as exc:
        return [], [Problem(source, str(exc))]
    rows = [
        {"question": e["prompt"], "reference": e["response"]} if "prompt" in e else {"messages": e["messages"]}
        for e in examples
        if "prompt" in e or "messages" in e
    ]
    return rows, []


def write_heldout(job_id: int, job_config: dict) -> Path:
    """Writes job ``job_id``'s held-out split to its folder; returns the file. Raises ValueError naming the
    problems when the split cannot be read."""
    rows, problems = heldout_rows(job_config)
    if problems:
        raise ValueError("; ".join(str(p) for p in problems))
    path = heldout_path(job_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(path)
    return path
