"""The training loop: LoRA on a zoo model with accelerate's Accelerator, reporting to the job store as it goes.

Runs the same on one CPU process and under ``accelerate launch`` on several GPUs: only the main process
writes to the store, evaluates, and saves the adapter. Training uses SDPA attention (the zoo loads eager
attention, which the trace views need but training does not), logits only where the loss is taken, and no
padding waste: causal LM draws random batches as a plain Trainer does and packs each into one unpadded row,
whose attention runs example by example (finetune/packed_attention.py); classification uses length-grouped
batches padded per batch.

`train` runs the phases in order: set-up (model, data, adapter), the base model's held-out evaluation, the
optimiser, the steps (`finetune.training_steps`), then the tuned model's evaluation and the adapter saved.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import set_seed

from finetune.adapter_output import save_adapter
from finetune.checkpoints import latest_resumable, load_adapter_weights
from finetune.config import TrainConfig
from finetune.encoding import encode_causal, encode_classification
from finetune.evaluate import evaluate_heldout
from finetune.methods import adapter_method
from finetune.packed_attention import use_packed_attention
from finetune.prepared_data import DataError, PreparedData, prepare_data
from finetune.tracking import MLFLOW_RUN_FILE, MlflowTracker, Reporter, TensorBoardTracker
from finetune.training_steps import StopRequested, TrainingRun, prepare_optimisation, train_steps
from finetune.training_store import TrainingJobStore
from model_zoo.kinds import CAUSAL_LM, ENCODER
from model_zoo.paths import data_home

log = logging.getLogger("finetune")

__all__ = ["DataError", "PreparedData", "StopRequested", "lora_model", "prepare_data", "train"]


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
    accelerator = Accelerator(cpu=config.device == "cpu")
    resume_from = latest_resumable(config.checkpoint_dir) if config.resume and config.checkpoint_dir else None
    if config.resume and resume_from is None:
        raise ValueError(f"nothing to resume: no checkpoint with a training state in {config.checkpoint_dir!r}")
    resume_step = int(resume_from.name[5:]) if resume_from else None
    report = Reporter(store, job_id, accelerator.is_main_process, _trackers(config, accelerator, resume_step))
    set_seed(config.seed)
    run = _set_up(config, accelerator, report, resume_from)
    result = {"trainable_parameters": _trainable(run), "train_examples": len(run.data.train)}
    result["heldout"] = run.data.test_source
    _evaluate_base(run, result, store, job_id, resume_step)
    prepare_optimisation(run, resume_from)
    if not resume_from:
        run.checkpoint()  # step 0: the probes as the base model reads them
    report.update(phase="training", train_started_at=time.time())
    train_steps(run, stop_flag, on_step)
    state = run.state
    result |= {
        "steps": state.step,
        "tokens": state.tokens,
        "padded_tokens": state.padded_tokens,
        "train_seconds": state.train_seconds,
        "final_loss": state.last_loss,
        "tokens_per_second": state.tokens / max(state.train_seconds, 1e-9),
    }
    accelerator.wait_for_everyone()
    if run.main:
        _evaluate_and_save_tuned(run, result, job_id)
    report.close()
    return result


def _set_up(config: TrainConfig, accelerator: Accelerator, report: Reporter, resume_from) -> TrainingRun:
    """The model (SDPA or packed attention), the data, and the adapter on the model (resumed weights loaded)."""
    from model_zoo import load_model
    from model_zoo.loading import name_labels

    report.update(phase="loading model")
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
    probes = data.probes if packed else []
    return TrainingRun(config, accelerator, report, tokenizer, data, method, model, encoded, total_steps, probes)


def _trainable(run: TrainingRun) -> int:
    """The adapter's trainable parameters, logged with the data's sizes; the store hears the steps planned."""
    trainable = sum(p.numel() for p in run.model.parameters() if p.requires_grad)
    data = run.data
    log.info(
        "model %s, %d trainable %s parameters; %d train, %d validation, %d %s examples",
        run.config.model,
        trainable,
        run.method.title,
        len(data.train),
        len(data.validation),
        len(data.test),
        data.test_source,
    )
    run.report.update(total_steps=run.total_steps)
    return trainable


def _evaluate_base(run: TrainingRun, result: dict, store, job_id: int | None, resume_step: int | None) -> None:
    """The base model on the held-out split (main process), or, on a resume, the evaluation made before."""
    if resume_step is not None:
        result["resumed_from"] = resume_step
        run.report.forget_after(resume_step)
        if store is not None and job_id and "base" in store.evaluations(job_id):
            result["base"] = store.evaluations(job_id)["base"]
    elif run.main and run.data.test:
        run.report.update(phase="evaluating the base model")
        test = run.data.test
        result["base"] = evaluate_heldout(run.model, run.tokenizer, test, run.config.task, **run.evaluation_kwargs)
        run.report.set_evaluation("base", result["base"])
        log.info("base model on %d held-out examples: %s", len(test), _brief(result["base"]))


def _evaluate_and_save_tuned(run: TrainingRun, result: dict, job_id: int | None) -> None:
    """The tuned model on the held-out split, then the adapter saved and registered (main process)."""
    tuned = run.accelerator.unwrap_model(run.model)
    test = run.data.test
    if test:
        run.report.update(phase="evaluating the tuned model")
        result["tuned"] = evaluate_heldout(tuned, run.tokenizer, test, run.config.task, **run.evaluation_kwargs)
        run.report.set_evaluation("tuned", result["tuned"])
        log.info("tuned model on %d held-out examples: %s", len(test), _brief(result["tuned"]))
    run.report.update(phase="saving the adapter")
    result["adapter_id"], result["adapter_path"] = save_adapter(
        tuned, run.tokenizer, run.config, result, job_id, labels=run.data.labels
    )
    log.info("adapter %s saved to %s", result["adapter_id"], result["adapter_path"])


def _brief(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
