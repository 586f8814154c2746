"""The adapter methods a job can train, by name: LoRA, and AdaLoRA (LoRA whose rank budget is moved during
training to the weights that matter most, peft's ``AdaLoraConfig``).

A method builds the peft model from the config and the job's total step count, and may add to each step:
a term added to the loss (AdaLoRA's orthogonal regularisation, which peft adds only when the model computes
the loss itself, and ours computes it outside) and work after the backward pass (AdaLoRA's
``update_and_allocate``, which reads the gradients, so it runs before they are zeroed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from finetune.config import ALL_LINEAR, METHOD_TITLES, TrainConfig
from model_zoo.kinds import ENCODER


@dataclass(frozen=True)
class AdapterMethod:
    name: str
    title: str
    build: Callable  # (base model, config, total steps) -> peft model
    extra_loss: Callable | None = None  # (peft model) -> tensor added to the step's loss
    after_backward: Callable | None = None  # (peft model, step) -> None, before the gradients are zeroed
    # What the method itself carries from step to step, for a checkpoint: (peft model) -> dict, and back
    loop_state: Callable | None = None
    restore_loop_state: Callable | None = None  # (peft model, that dict) -> None


OUTPUT_LAYERS = {"lm_head", "score", "classifier"}  # what peft's "all-linear" leaves out


def _targets(config: TrainConfig, model):
    """The target modules as peft takes them. With a share of the layers, peft needs names, not "all-linear":
    the linear modules' names, as peft's "all-linear" would pick them."""
    targets = config.target_modules
    if isinstance(targets, str) and targets != ALL_LINEAR:
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    if targets == ALL_LINEAR and adapted_layers(model, config) is not None:
        names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        targets = sorted(names - OUTPUT_LAYERS)
    return targets


def adapted_layers(model, config: TrainConfig) -> list[int] | None:
    """The indices of the top ``config.layer_share`` of the model's layers, or None for every layer."""
    count = getattr(model.config, "num_hidden_layers", None)
    if config.layer_share >= 1 or not count:
        return None
    return list(range(count - math.ceil(count * config.layer_share), count))


def _task_type(config: TrainConfig):
    from peft import TaskType

    return TaskType.SEQ_CLS if config.task == ENCODER.finetune_task else TaskType.CAUSAL_LM


def _build_lora(model, config: TrainConfig, total_steps: int):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=_targets(config, model),
        layers_to_transform=adapted_layers(model, config),
        task_type=_task_type(config),
    )
    return get_peft_model(model, lora)


def _build_adalora(model, config: TrainConfig, total_steps: int):
    from peft import AdaLoraConfig, get_peft_model

    if config.adalora_tinit >= total_steps - config.adalora_tfinal:
        raise ValueError(
            f"AdaLoRA needs steps to move its rank budget: tinit ({config.adalora_tinit}) must be below the "
            f"total steps ({total_steps}) minus tfinal ({config.adalora_tfinal})"
        )
    adalora = AdaLoraConfig(
        target_r=config.adalora_target_r,
        init_r=config.adalora_init_r,
        tinit=config.adalora_tinit,
        tfinal=config.adalora_tfinal,
        deltaT=config.adalora_delta_t,
        beta1=config.adalora_beta1,
        beta2=config.adalora_beta2,
        orth_reg_weight=config.adalora_orth_reg_weight,
        total_step=total_steps,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=_targets(config, model),
        layers_to_transform=adapted_layers(model, config),
        task_type=_task_type(config),
    )
    return get_peft_model(model, adalora)


def _adalora_orthogonality(model) -> torch.Tensor:
    """peft's AdaLoRA regulariser: the mean Frobenius distance of P Pᵀ (and Qᵀ Q) from the identity."""
    weight = model.peft_config[model.base_model.trainable_adapter_name].orth_reg_weight
    terms = []
    for name, param in model.named_parameters():
        if param.requires_grad and ("lora_A" in name or "lora_B" in name):
            cov = param @ param.T if "lora_A" in name else param.T @ param
            terms.append(torch.linalg.matrix_norm(cov - torch.eye(*cov.shape, device=cov.device), ord="fro"))
    return weight * torch.stack(terms).mean() if terms else torch.zeros(())


def _adalora_allocate(model, step: int) -> None:
    model.base_model.update_and_allocate(step)


def _adalora_state(model) -> dict:
    """The full-rank adapter weights, the rank allocator's running importance statistics and the rank pattern
    decided so far. peft saves an AdaLoRA adapter cut to its rank pattern, which a model still training at
    the initial rank cannot load; and without the statistics a resumed run would allocate differently."""
    allocator = model.base_model.rankallocator
    config = model.peft_config[model.base_model.trainable_adapter_name]
    return {
        "weights": {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad},
        "ipt": allocator.ipt,
        "exp_avg_ipt": allocator.exp_avg_ipt,
        "exp_avg_unc": allocator.exp_avg_unc,
        "rank_pattern": config.rank_pattern,
    }


def _adalora_restore(model, saved: dict) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in saved["weights"].items():
            params[name].copy_(value)
    allocator = model.base_model.rankallocator
    allocator.ipt, allocator.exp_avg_ipt, allocator.exp_avg_unc = (
        dict(saved["ipt"]),
        dict(saved["exp_avg_ipt"]),
        dict(saved["exp_avg_unc"]),
    )
    model.peft_config[model.base_model.trainable_adapter_name].rank_pattern = saved["rank_pattern"]


METHODS: dict[str, AdapterMethod] = {
    "lora": AdapterMethod("lora", METHOD_TITLES["lora"], _build_lora),
    "adalora": AdapterMethod(
        "adalora",
        METHOD_TITLES["adalora"],
        _build_adalora,
        extra_loss=_adalora_orthogonality,
        after_backward=_adalora_allocate,
        loop_state=_adalora_state,
        restore_loop_state=_adalora_restore,
    ),
}
assert set(METHODS) == set(METHOD_TITLES), "every named method has a builder"


def adapter_method(name: str) -> AdapterMethod:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {list(METHODS)}")
    return METHODS[name]
