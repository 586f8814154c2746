"""The training loop: LoRA on a zoo model with accelerate's Accelerator, reporting to the job store as it goes.

Runs the same on one CPU process and under ``accelerate launch`` on several GPUs: only the main process
writes to the store, evaluates, and saves the adapter. Training uses SDPA attention (the zoo loads eager
attention, which the trace views need but training does not), logits only where the loss is taken, and no
padding waste: causal LM draws random batches as a plain Trainer does and packs each into one unpadded row,
whose attention runs example by example (finetune/packed_attention.py); classification uses length-grouped
batches padded per batch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from datafiles.rows import load_file
from finetune.adapter_output import save_adapter
from finetune.batching import COLLATORS, LOSSES, collate_causal_packed, length_grouped_batches, random_batches
from finetune.checkpoints import (
    LoopState,
    latest_resumable,
    load_adapter_weights,
    restore_training_state,
    save_checkpoint,
)
from finetune.config import VALIDATION_LOSS_LIMIT, TrainConfig
from finetune.encoding import encode_causal, encode_classification
from finetune.evaluate import evaluate_heldout, generate, mean_loss, prompt_of, reference_of
from finetune.mapping import ColumnMapping, label_names
from finetune.methods import adapter_method
from finetune.packed_attention import use_packed_attention
from finetune.probes import probe_trace_path, read_probes
from finetune.tracking import MLFLOW_RUN_FILE, MlflowTracker, Reporter, TensorBoardTracker
from finetune.training_store import TrainingJobStore
from finetune.validation import check_data, split_examples
from model_zoo.adapters import register_adapter
from model_zoo.kinds import CAUSAL_LM, ENCODER, TASK_KINDS
from model_zoo.paths import data_home

log = logging.getLogger("finetune")


class StopRequested(Exception):
    """The user asked the job to stop; raised between steps so the job ends cleanly."""


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


def lora_model(model, config: TrainConfig, total_steps: int = 1):
    """``model`` wrapped in the adapter of ``config.method`` (LoRA unless asked otherwise)."""
    return adapter_method(config.method).build(model, config, total_steps)


def _encode(examples, tokenizer, config: TrainConfig, labels):
    if config.task == ENCODER.finetune_task:
        return [encode_classification(e, tokenizer, config.max_length, labels) for e in examples]
    return [encode_causal(e, tokenizer, config.max_length) for e in examples]


def _trackers(config: TrainConfig, accelerator: Accelerator, resume_step: int | None) -> list:
    if not accelerator.is_main_process:
        return []
    trackers = [TensorBoardTracker(config.tensorboard_dir, purge_after=resume_step)] if config.tensorboard_dir else []
    if "mlflow" in config.track_with:
        run_file = Path(config.checkpoint_dir) / MLFLOW_RUN_FILE if config.checkpoint_dir else None
        name = f"job {config.job_id}: {config.name}" if config.job_id else config.name or "fine-tune"
        uri = config.mlflow_uri or MlflowTracker.default_uri(data_home())
        trackers.append(MlflowTracker(uri, name, config.to_dict(), run_file, resume=resume_step is not None))
    return trackers


def train(
    config: TrainConfig, store: TrainingJobStore | None = None, job_id: int | None = None, stop_flag=None, on_step=None
) -> dict:
    """Trains, evaluates base vs tuned on the held-out split, saves and registers the adapter. Returns the result.

    ``stop_flag()`` is asked before every step; ``on_step(step, metrics)`` hears every step's metrics. With
    ``config.resume`` it continues from the latest checkpoint under ``config.checkpoint_dir``."""
    from model_zoo import load_model
    from model_zoo.loading import name_labels

    accelerator = Accelerator(cpu=config.device == "cpu")
    main = accelerator.is_main_process
    resume_from = latest_resumable(config.checkpoint_dir) if config.resume and config.checkpoint_dir else None
    if config.resume and resume_from is None:
        raise ValueError(f"nothing to resume: no checkpoint with a training state in {config.checkpoint_dir!r}")
    resume_step = int(resume_from.name[5:]) if resume_from else None
    report = Reporter(store, job_id, main, _trackers(config, accelerator, resume_step))
    set_seed(config.seed)
    report("update", phase="loading model")
    probe = load_model(config.model, device="cpu" if config.device == "cpu" else str(accelerator.device))
    tokenizer = probe.tokenizer
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = prepare_data(config, tokenizer, probe.max_context)
    if config.task == ENCODER.finetune_task:
        del probe
        loaded = load_model(config.model, device=str(accelerator.device), num_labels=len(data.labels))
        name_labels(loaded.model, data.labels)
    else:
        loaded = probe
    base = loaded.model
    packed = config.task == CAUSAL_LM.finetune_task
    if not (packed and use_packed_attention(base)) and hasattr(base, "set_attn_implementation"):
        base.set_attn_implementation("sdpa")
    encoded = _encode(data.train, tokenizer, config, data.labels)
    total_steps = config.total_steps(len(encoded))
    method = adapter_method(config.method)
    set_seed(config.seed)  # the adapter's init depends on the seed alone, not on what loading drew
    model = method.build(base, config, total_steps)
    if resume_from and method.restore_loop_state is None:  # a method with a state of its own restores its weights
        load_adapter_weights(model, resume_from)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info(
        "model %s, %d trainable %s parameters; %d train, %d validation, %d %s examples",
        config.model,
        trainable,
        method.title,
        len(data.train),
        len(data.validation),
        len(data.test),
        data.test_source,
    )
    report("update", total_steps=total_steps)
    evaluation_kwargs = dict(max_length=config.max_length, labels=data.labels, max_new_tokens=config.max_new_tokens)
    result: dict = {"trainable_parameters": trainable, "train_examples": len(data.train), "heldout": data.test_source}
    probes = data.probes if packed else []
    if resume_from:
        result["resumed_from"] = resume_step
        report("forget_after", resume_step)
        if store is not None and job_id and "base" in store.evaluations(job_id):
            result["base"] = store.evaluations(job_id)["base"]
    elif main and data.test:
        report("update", phase="evaluating the base model")
        result["base"] = evaluate_heldout(model, tokenizer, data.test, config.task, **evaluation_kwargs)
        report("set_evaluation", "base", result["base"])
        log.info("base model on %d held-out examples: %s", len(data.test), _brief(result["base"]))

    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_linear_decay(config.warmup_steps, total_steps))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    restore_method = None
    if method.restore_loop_state is not None:
        restore_method = lambda saved: method.restore_loop_state(accelerator.unwrap_model(model), saved)  # noqa: E731
    state = restore_training_state(resume_from, optimizer, scheduler, restore_method) if resume_from else LoopState()
    loss_fn, collate = LOSSES[config.task], COLLATORS[config.task]
    training_precision = _training_autocast(config, accelerator.device)
    if packed:
        collate = collate_causal_packed
    pad_id = tokenizer.pad_token_id
    lengths = [len(ids) for ids, _ in encoded]

    def checkpoint() -> None:
        if main and config.checkpoint_dir:
            unwrapped = accelerator.unwrap_model(model)
            method_state = method.loop_state(unwrapped) if method.loop_state is not None else None
            folder = save_checkpoint(config.checkpoint_dir, unwrapped, optimizer, scheduler, state, method_state)
            if probes:
                report("update", phase=f"reading the probes at step {state.step}")
                _read_probes(unwrapped, tokenizer, probes, config, state.step, folder, report)
                report("update", phase="training")

    if not resume_from:
        checkpoint()  # step 0: the probes as the base model reads them
    report("update", phase="training", train_started_at=time.time())
    model.train()
    while state.step < total_steps:
        if packed:  # random batches, as a plain Trainer draws them; packing leaves no padding to group away
            batches = random_batches(len(encoded), config.batch_size, seed=config.seed + state.epoch)
        else:
            batches = length_grouped_batches(lengths, config.batch_size, seed=config.seed + state.epoch)
        loader = accelerator.prepare_data_loader(
            torch.utils.data.DataLoader(
                encoded, batch_sampler=batches[state.batch_in_epoch :], collate_fn=lambda b: collate(b, pad_id)
            )
        )
        for batch in loader:
            asked = (stop_flag is not None and stop_flag()) or report.stop_requested()
            if _any_process(accelerator, asked):  # every rank stops at the same step, or DDP would hang
                checkpoint()  # nothing trained so far is lost: a resume starts here
                report.close("stopped")
                raise StopRequested(f"stopped at step {state.step} of {total_steps}")
            started = time.perf_counter()
            with training_precision:
                loss, _ = loss_fn(model, batch)
            if method.extra_loss is not None:
                loss = loss + method.extra_loss(accelerator.unwrap_model(model))
            accelerator.backward(loss)
            if config.max_grad_norm > 0:  # early LoRA steps at a high learning rate overshoot without it
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            if method.after_backward is not None:
                method.after_backward(accelerator.unwrap_model(model), state.step)
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.batch_in_epoch += 1
            state.train_seconds += time.perf_counter() - started
            _count_tokens(accelerator, batch, state)
            state.last_loss = float(accelerator.reduce(loss.detach(), reduction="mean"))
            metrics = {"loss": state.last_loss, "lr": scheduler.get_last_lr()[0], "tokens": state.last_tokens}
            report("add_metrics", state.step, metrics)
            if on_step is not None:
                on_step(state.step, metrics)
            report("update", step=state.step, tokens=state.tokens, train_seconds=state.train_seconds)
            step = state.step
            if step % 10 == 0 or step == total_steps:
                speed = state.tokens / max(state.train_seconds, 1e-9)
                log.info("step %d/%d loss %.4f (%.1f tokens/s)", step, total_steps, state.last_loss, speed)
            if main and data.validation and (step % config.eval_every == 0 or step == total_steps):
                _evaluate_during_training(accelerator.unwrap_model(model), tokenizer, data, config, step, report)
            if config.checkpoint_every and (step % config.checkpoint_every == 0 or step == total_steps):
                checkpoint()
            if step >= total_steps:
                break
        else:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0

    result |= {
        "steps": state.step,
        "tokens": state.tokens,
        "padded_tokens": state.padded_tokens,
        "train_seconds": state.train_seconds,
        "final_loss": state.last_loss,
        "tokens_per_second": state.tokens / max(state.train_seconds, 1e-9),
    }
    accelerator.wait_for_everyone()
    if main:
        tuned = accelerator.unwrap_model(model)
        if data.test:
            report("update", phase="evaluating the tuned model")
            result["tuned"] = evaluate_heldout(tuned, tokenizer, data.test, config.task, **evaluation_kwargs)
            report("set_evaluation", "tuned", result["tuned"])
            log.info("tuned model on %d held-out examples: %s", len(data.test), _brief(result["tuned"]))
        report("update", phase="saving the adapter")
        result["adapter_id"], result["adapter_path"] = save_adapter(
            tuned, tokenizer, config, result, job_id, labels=data.labels
        )
        log.info("adapter %s saved to %s", result["adapter_id"], result["adapter_path"])
    report.close()
    return result


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
    report("add_probe_readings", step, readings)


def _any_process(accelerator: Accelerator, flag: bool) -> bool:
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor(float(flag), device=accelerator.device), reduction="sum") > 0)


def _brief(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))


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
    report("add_metrics", step, {"val_loss": val_loss})
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
        report("add_samples", step, samples)
