"""The training loop's steps: one run's parts (`TrainingRun`), the optimiser and schedule, each epoch's
batches, one optimisation step, and what follows a step (progress, validation loss and samples, checkpoints
with the probes read there). `finetune.train` runs the phases in order."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field

import torch
from accelerate import Accelerator

from finetune.checkpoints import LoopState, restore_training_state, save_checkpoint
from finetune.config import VALIDATION_LOSS_LIMIT, TrainConfig
from finetune.evaluate import generate, mean_loss, prompt_of, reference_of
from finetune.prepared_data import PreparedData
from finetune.probes import probe_trace_path, read_probes
from finetune.tracking import Reporter
from finetune.training_batches import COLLATORS, LOSSES, collate_causal_packed, length_grouped_batches, random_batches
from model_zoo.adapters import register_adapter
from model_zoo.kinds import CAUSAL_LM, TASK_KINDS

log = logging.getLogger("finetune")


class StopRequested(Exception):
    """The user asked the job to stop; raised between steps so the job ends cleanly."""


@dataclass
class TrainingRun:
    """One training run's parts, shared by its phases; ``optimizer``, ``scheduler`` and ``state`` come with
    `_prepare_optimisation`."""

    config: TrainConfig
    accelerator: Accelerator
    report: Reporter
    tokenizer: object
    data: PreparedData
    method: object
    model: torch.nn.Module
    encoded: list
    total_steps: int
    probes: list[dict]
    optimizer: torch.optim.Optimizer | None = None
    scheduler: object = None
    state: LoopState = field(default_factory=LoopState)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def evaluation_kwargs(self) -> dict:
        config = self.config
        return {"max_length": config.max_length, "labels": self.data.labels, "max_new_tokens": config.max_new_tokens}

    def checkpoint(self) -> None:
        """Saves the adapter and the resumable state (main process), and reads the probes there."""
        config, report = self.config, self.report
        if not (self.main and config.checkpoint_dir):
            return
        unwrapped = self.accelerator.unwrap_model(self.model)
        method_state = self.method.loop_state(unwrapped) if self.method.loop_state is not None else None
        folder = save_checkpoint(
            config.checkpoint_dir, unwrapped, self.optimizer, self.scheduler, self.state, method_state
        )
        if self.probes:
            report.update(phase=f"reading the probes at step {self.state.step}")
            _read_probes(unwrapped, self.tokenizer, self.probes, config, self.state.step, folder, report)
            report.update(phase="training")


def prepare_optimisation(run: TrainingRun, resume_from) -> None:
    """The optimizer and schedule, prepared with the model by accelerate, and the loop's state (restored on
    a resume)."""
    config, method, accelerator = run.config, run.method, run.accelerator
    optimizer = torch.optim.AdamW(
        [p for p in run.model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    schedule = _warmup_linear_decay(config.warmup_steps, run.total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    run.model, run.optimizer, run.scheduler = accelerator.prepare(run.model, optimizer, scheduler)
    restore_method = None
    if method.restore_loop_state is not None:
        restore_method = lambda saved: method.restore_loop_state(accelerator.unwrap_model(run.model), saved)  # noqa: E731
    if resume_from:
        run.state = restore_training_state(resume_from, run.optimizer, run.scheduler, restore_method)


def _epoch_loader(run: TrainingRun, collate, lengths: list[int]):
    """This epoch's batches from where the loop stands: random (packed causal LM, as a plain Trainer draws
    them; packing leaves no padding to group away) or grouped by length."""
    config, state = run.config, run.state
    if config.task == CAUSAL_LM.finetune_task:
        batches = random_batches(len(run.encoded), config.batch_size, seed=config.seed + state.epoch)
    else:
        batches = length_grouped_batches(lengths, config.batch_size, seed=config.seed + state.epoch)
    pad_id = run.tokenizer.pad_token_id
    return run.accelerator.prepare_data_loader(
        torch.utils.data.DataLoader(
            run.encoded, batch_sampler=batches[state.batch_in_epoch :], collate_fn=lambda b: collate(b, pad_id)
        )
    )


def train_steps(run: TrainingRun, stop_flag, on_step) -> None:
    """Steps until the planned total, stopping between steps when asked (after a checkpoint)."""
    packed = run.config.task == CAUSAL_LM.finetune_task
    collate = collate_causal_packed if packed else COLLATORS[run.config.task]
    precision = _training_autocast(run.config, run.accelerator.device)
    lengths = [len(ids) for ids, _ in run.encoded]
    state = run.state
    run.model.train()
    while state.step < run.total_steps:
        for batch in _epoch_loader(run, collate, lengths):
            asked = (stop_flag is not None and stop_flag()) or run.report.stop_requested()
            if _any_process(run.accelerator, asked):  # every rank stops at the same step, or DDP would hang
                run.checkpoint()  # nothing trained so far is lost: a resume starts here
                run.report.close("stopped")
                raise StopRequested(f"stopped at step {state.step} of {run.total_steps}")
            metrics = _step(run, batch, precision)
            if on_step is not None:
                on_step(state.step, metrics)
            _after_step(run)
            if state.step >= run.total_steps:
                break
        else:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0


def _step(run: TrainingRun, batch: dict, precision) -> dict[str, float]:
    """One optimisation step on ``batch``; returns (and reports) its loss, learning rate and tokens."""
    model, method, accelerator, state = run.model, run.method, run.accelerator, run.state
    started = time.perf_counter()
    with precision:
        loss, _ = LOSSES[run.config.task](model, batch)
    if method.extra_loss is not None:
        loss = loss + method.extra_loss(accelerator.unwrap_model(model))
    accelerator.backward(loss)
    if run.config.max_grad_norm > 0:  # early LoRA steps at a high learning rate overshoot without it
        accelerator.clip_grad_norm_(model.parameters(), run.config.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    if method.after_backward is not None:
        method.after_backward(accelerator.unwrap_model(model), state.step)
    run.optimizer.zero_grad(set_to_none=True)
    state.step += 1
    state.batch_in_epoch += 1
    state.train_seconds += time.perf_counter() - started
    _count_tokens(accelerator, batch, state)
    state.last_loss = float(accelerator.reduce(loss.detach(), reduction="mean"))
    metrics = {"loss": state.last_loss, "lr": run.scheduler.get_last_lr()[0], "tokens": state.last_tokens}
    run.report.add_metrics(state.step, metrics)
    return metrics


def _after_step(run: TrainingRun) -> None:
    """The store's progress, the log line every 10 steps, validation and checkpoints when they are due."""
    config, state, total = run.config, run.state, run.total_steps
    run.report.update(step=state.step, tokens=state.tokens, train_seconds=state.train_seconds)
    step = state.step
    if step % 10 == 0 or step == total:
        speed = state.tokens / max(state.train_seconds, 1e-9)
        log.info("step %d/%d loss %.4f (%.1f tokens/s)", step, total, state.last_loss, speed)
    if run.main and run.data.validation and (step % config.eval_every == 0 or step == total):
        model = run.accelerator.unwrap_model(run.model)
        _evaluate_during_training(model, run.tokenizer, run.data, config, step, run.report)
    if config.checkpoint_every and (step % config.checkpoint_every == 0 or step == total):
        run.checkpoint()


def _training_autocast(config: TrainConfig, device: torch.device):
    """The context the training forward runs in: a bfloat16 autocast on the CPU when the config asks for it
    ("auto": where the CPU computes bfloat16 natively), else nothing. Only the loss's forward runs in it, so
    evaluations, probes and samples read the model in float32, and the weights and optimizer stay float32."""
    if not config.trains_in_bfloat16(device.type):
        return contextlib.nullcontext()
    log.info("training forward in bfloat16 autocast (weights and optimizer in float32)")
    return torch.autocast("cpu", dtype=torch.bfloat16)


def _count_tokens(accelerator: Accelerator, batch: dict, state: LoopState) -> None:
    counts = accelerator.reduce(
        torch.tensor([batch["attention_mask"].sum(), batch["attention_mask"].numel()], device=accelerator.device),
        reduction="sum",
    )
    state.last_tokens = int(counts[0])
    state.tokens += state.last_tokens
    state.padded_tokens += int(counts[1])


def _read_probes(model, tokenizer, probes, config: TrainConfig, step: int, folder, report) -> None:
    """Reads the probes at this checkpoint and saves their traces beside its adapter, which is registered
    under its folder's path: the Trace page loads that adapter again for a probe trace's attributions and
    logit lens (`model_zoo.adapters.adapter_at`)."""
    adapter = str(folder)
    readings, traces = read_probes(model, tokenizer, probes, model_id=config.model, adapter=adapter, step=step)
    for index, trace in enumerate(traces):
        trace.save(probe_trace_path(folder, index))
    job = f"fine-tune job {config.job_id}" if config.job_id else "a fine-tune run"
    register_adapter(
        folder,
        adapter_id=adapter,
        base=config.model,
        kind=TASK_KINDS[config.task].name,
        description=f"{config.model} + {config.name or 'adapter'} at step {step} (a checkpoint of {job})",
    )
    report.add_probe_readings(step, readings)


def _any_process(accelerator: Accelerator, flag: bool) -> bool:
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor(float(flag), device=accelerator.device), reduction="sum") > 0)


def _warmup_linear_decay(warmup: int, total: int):
    """Linear warm-up from 0, then linear decay to 0: transformers' ``get_linear_schedule_with_warmup``."""

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _evaluate_during_training(model, tokenizer, data: PreparedData, config: TrainConfig, step: int, report) -> None:
    validation = data.validation[:VALIDATION_LOSS_LIMIT]
    val_loss = mean_loss(model, tokenizer, validation, config.task, max_length=config.max_length, labels=data.labels)
    report.add_metrics(step, {"val_loss": val_loss})
    log.info("step %d validation loss %.4f", step, val_loss)
    if config.task != CAUSAL_LM.finetune_task or not config.sample_count:
        return
    shown = [e for e in data.validation if "prompt" in e or "messages" in e][: config.sample_count]
    if shown:
        outputs = generate(model, tokenizer, shown, max_new_tokens=config.max_new_tokens)
        samples = [
            {"prompt": prompt_of(e), "output": o, "reference": reference_of(e)}
            for e, o in zip(shown, outputs, strict=True)
        ]
        report.add_samples(step, samples)
