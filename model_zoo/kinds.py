"""The kinds of model the zoo holds, each described once: its name in ``catalog.toml`` and adapter
registrations, what it can do here, how transformers loads it and which fine-tune task it learns.

Adding a kind is adding one `ModelKind` to `KINDS`; no other file spells a kind's name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelKind:
    name: str  # as written in catalog.toml and momentscope.json
    label: str  # for people, in messages
    generates: bool  # decodes moment by moment: traces, branches, comparisons, attributions
    auto_class: str  # the transformers auto class of the bare model
    classifier_auto_class: str | None  # the auto class with a classification head (num_labels given)
    finetune_task: str | None  # the task name a fine-tune job of this kind runs (TrainConfig.task); None: none


CAUSAL_LM = ModelKind(
    name="causal-lm",
    label="causal language model",
    generates=True,
    auto_class="AutoModelForCausalLM",
    classifier_auto_class=None,
    finetune_task="causal-lm",
)
ENCODER = ModelKind(
    name="encoder",
    label="encoder",
    generates=False,
    auto_class="AutoModel",
    classifier_auto_class="AutoModelForSequenceClassification",
    finetune_task="classification",
)
MASKED_LM = ModelKind(
    name="masked-lm",
    label="masked language model",
    generates=False,
    auto_class="AutoModelForMaskedLM",
    classifier_auto_class=None,
    finetune_task=None,
)
KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (CAUSAL_LM, ENCODER, MASKED_LM)}
TASK_KINDS: dict[str, ModelKind] = {kind.finetune_task: kind for kind in KINDS.values() if kind.finetune_task}


def get_kind(name: str) -> ModelKind:
    """The kind called ``name``; raises ValueError for an unknown one."""
    if name not in KINDS:
        raise ValueError(f"kind {name!r} is not one of {', '.join(KINDS)}")
    return KINDS[name]
