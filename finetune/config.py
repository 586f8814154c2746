"""The settings of one fine-tune job, the presets, and an estimate of its time and memory before launch.

A ``TrainConfig`` is what the page writes to a JSON file and ``python -m finetune train --config FILE`` reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from model_zoo.kinds import CAUSAL_LM, ENCODER, TASK_KINDS

ALL_LINEAR = "all-linear"
# Measured on a 2-core laptop-class CPU, float32, SmolLM2-135M with LoRA (the quick preset on the addition
# sample): trained tokens per second (forward + backward), forward-only speed relative to that, seconds per
# greedy decoding step of a batch of up to GENERATION_BATCH prompts, and a warm model load. Other sizes scale
# inversely with the parameter count; a GPU by GPU_SPEEDUP (a rough figure, not measured here).
CPU_TOKENS_PER_SECOND_135M = 230.0
FORWARD_SPEEDUP = 3.0
BF16_SPEEDUP = 1.8  # training in a bfloat16 autocast on a CPU with native bfloat16 (AVX512-BF16): 168.5 s -> 93.5 s
CPU_GENERATION_STEP_SECONDS_135M = 0.12
GENERATION_BATCH = 16
LOAD_SECONDS = 5.0
GPU_SPEEDUP = 25.0
VALIDATION_LOSS_LIMIT = 64  # validation examples scored at each evaluation during training
# The adapter methods by name (each built in finetune/methods.py, which keeps its registry under these names).
METHOD_TITLES = {"lora": "LoRA", "adalora": "AdaLoRA"}
MIXED_PRECISIONS = ("no", "bf16", "auto")  # TrainConfig.mixed_precision


@dataclass
class TrainConfig:
    """Everything a training run needs. ``max_steps`` > 0 wins over ``epochs``."""

    train_file: str = ""
    model: str = "smollm2-135m-instruct"
    task: str = CAUSAL_LM.finetune_task
    mapping: dict | None = None
    validation_file: str = ""
    test_file: str = ""
    validation_fraction: float = 0.1
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: list[str] | str = ALL_LINEAR
    # The share of the model's layers, counted from the top, that get adapters (1: every layer). Gradients
    # stop at the lowest adapted layer, so a share below 1 makes each step cheaper (peft's layers_to_transform).
    layer_share: float = 1.0
    # The training forward's precision on the CPU: "no" (float32), "bf16" (autocast to bfloat16, the weights
    # and the optimizer kept in float32), or "auto" (bf16 where the CPU computes it natively: AVX512-BF16 or
    # AMX). Evaluations, probes and samples always run in the model's own precision. Models on an accelerator
    # are loaded in half precision already (model_zoo.device.pick_dtype), so this changes nothing there.
    mixed_precision: str = "no"
    learning_rate: float = 2e-3
    epochs: float = 1.0
    max_steps: int = 0
    batch_size: int = 8
    max_length: int = 128
    seed: int = 0
    warmup_steps: int = 5
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_every: int = 20
    sample_count: int = 3
    max_new_tokens: int = 64
    test_limit: int = 40
    device: str = ""
    name: str = ""
    job_id: int | None = None
    store: str = ""
    extra: dict = field(default_factory=dict)
    # The adapter method (finetune/methods.py) and AdaLoRA's own settings (peft's AdaLoraConfig; its initial
    # rank is adalora_init_r, lora_rank is LoRA's): ranks start at init_r and are pruned to an average of
    # target_r between step tinit and tfinal steps before the end, every delta_t steps.
    method: str = "lora"
    adalora_target_r: int = 8
    adalora_init_r: int = 12
    adalora_tinit: int = 0
    adalora_tfinal: int = 0
    adalora_delta_t: int = 1
    adalora_beta1: float = 0.85
    adalora_beta2: float = 0.85
    adalora_orth_reg_weight: float = 0.5
    # Every checkpoint_every steps the job keeps its adapter (and, for the latest, everything a resume needs)
    # under checkpoint_dir and reads its probes; resume continues from the latest checkpoint there.
    checkpoint_every: int = 20
    checkpoint_dir: str = ""
    resume: bool = False
    probe_count: int = 3  # held-out examples whose reference answers are read at every checkpoint
    tensorboard_dir: str = ""  # TensorBoard event files; empty: none
    # Trackers beside TensorBoard, when installed and asked for (finetune/tracking.py): "mlflow" logs the
    # settings, metrics and probe figures to mlflow_uri (else $MLFLOW_TRACKING_URI, else <data home>/mlruns).
    track_with: list[str] = field(default_factory=list)
    mlflow_uri: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        return cls(**raw)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def problems(self) -> list[str]:
        """Settings that cannot work, in words; empty when the config is launchable."""
        out = []
        if not self.train_file:
            out.append("no training file")
        if self.task not in TASK_KINDS:
            out.append(f"task {self.task!r} is not one of {', '.join(map(repr, TASK_KINDS))}")
        for name, low in (("lora_rank", 1), ("lora_alpha", 1), ("batch_size", 1), ("max_length", 8)):
            if getattr(self, name) < low:
                out.append(f"{name} must be at least {low}")
        if not 0 <= self.lora_dropout < 1:
            out.append("lora_dropout must be in [0, 1)")
        if not 0 < self.learning_rate < 1:
            out.append("learning_rate must be in (0, 1)")
        if self.max_steps <= 0 and self.epochs <= 0:
            out.append("set max_steps or epochs above zero")
        if not 0 <= self.validation_fraction < 1:
            out.append("validation_fraction must be in [0, 1)")
        if not 0 < self.layer_share <= 1:
            out.append("layer_share must be in (0, 1]")
        if self.mixed_precision not in MIXED_PRECISIONS:
            out.append(f"mixed_precision must be one of {', '.join(map(repr, MIXED_PRECISIONS))}")
        if not self.target_modules:
            out.append("choose at least one target module (or 'all-linear')")
        if self.method not in METHOD_TITLES:
            out.append(f"method {self.method!r} is not one of {', '.join(map(repr, METHOD_TITLES))}")
        elif self.method == "adalora":
            if not 1 <= self.adalora_target_r <= self.adalora_init_r:
                out.append("AdaLoRA needs 1 <= target rank <= initial rank")
            if self.adalora_tinit < 0 or self.adalora_tfinal < 0 or self.adalora_delta_t < 1:
                out.append("AdaLoRA's tinit and tfinal must be >= 0 and delta_t >= 1")
        if self.checkpoint_every < 0 or self.probe_count < 0:
            out.append("checkpoint_every and probe_count must be >= 0")
        from finetune.tracking import tracker_problems

        out += tracker_problems(self.track_with)
        return out

    def trains_in_bfloat16(self, device_type: str) -> bool:
        """Whether the training forward runs in a bfloat16 autocast on this device type (the CPU only)."""
        if device_type not in ("cpu", "") or self.mixed_precision == "no":
            return False
        from model_zoo.device import cpu_computes_bfloat16

        return self.mixed_precision == "bf16" or cpu_computes_bfloat16()

    def total_steps(self, train_examples: int) -> int:
        if self.max_steps > 0:
            return self.max_steps
        return max(1, math.ceil(self.epochs * math.ceil(train_examples / self.batch_size)))


PRESETS: dict[str, dict] = {
    "quick": {
        "description": "quick: about two minutes on a laptop CPU",
        "settings": dict(
            lora_rank=16,
            lora_alpha=32,
            lora_dropout=0.0,
            target_modules=ALL_LINEAR,
            # bfloat16 autocast where the CPU has it: 94.5 s of training instead of 168.5 s for the same 97.5%
            # (adapting only the top two thirds of the layers as well costs accuracy: 87.5%)
            mixed_precision="auto",
            learning_rate=3e-3,
            max_steps=48,
            epochs=1.0,
            batch_size=8,
            max_length=128,
            warmup_steps=5,
            eval_every=16,
            checkpoint_every=16,
        ),
    },
    "thorough": {
        "description": "thorough: several epochs, longer context; minutes on a GPU, much longer on a CPU",
        "settings": dict(
            lora_rank=32,
            lora_alpha=64,
            lora_dropout=0.05,
            target_modules=ALL_LINEAR,
            learning_rate=5e-4,
            max_steps=0,
            epochs=3.0,
            batch_size=8,
            max_length=512,
            warmup_steps=20,
            eval_every=50,
        ),
    },
}


def preset(preset_name: str, /, **overrides) -> TrainConfig:
    if preset_name not in PRESETS:
        raise ValueError(f"unknown preset {preset_name!r}; choose one of {list(PRESETS)}")
    return TrainConfig(**(PRESETS[preset_name]["settings"] | overrides))


@dataclass(frozen=True)
class Estimate:
    steps: int
    tokens: int
    seconds: float  # training steps alone
    memory_bytes: int
    job_seconds: float = 0.0  # the whole job: loading, training, evaluations during and after training

    def describe(self) -> str:
        text = f"{self.steps} steps, about {self.tokens:,} tokens: training roughly {_duration(self.seconds)}"
        if self.job_seconds > self.seconds:
            text += f", the whole job with loading and evaluations roughly {_duration(self.job_seconds)}"
        return text + f"; {self.memory_bytes / 2**30:.1f} GiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min"


def estimate(
    config: TrainConfig,
    *,
    train_examples: int,
    mean_tokens: float,
    parameters: int,
    hidden: int,
    layers: int,
    device: str = "cpu",
    validation_examples: int = 0,
    heldout_examples: int = 0,
) -> Estimate:
    """A rough time and peak-memory estimate (float32 weights, LoRA states, activations of one batch).

    The job's time adds what surrounds training, measured with the quick preset on the 135M model: loading,
    base and tuned evaluations of the held-out examples (loss, and generation for causal LM), and at every
    ``eval_every`` steps the validation loss plus ``sample_count`` sample generations."""
    steps = config.total_steps(train_examples)
    tokens_per_step = config.batch_size * min(mean_tokens, config.max_length)
    tokens = int(steps * tokens_per_step)
    scale = 135e6 / max(parameters, 1) * (GPU_SPEEDUP if device not in ("cpu", "") else 1.0)
    loss_rate = CPU_TOKENS_PER_SECOND_135M * scale * FORWARD_SPEEDUP  # an evaluation's forward, float32
    # the backward (about twice a forward) runs only down to the lowest adapted layer
    train_rate = CPU_TOKENS_PER_SECOND_135M * scale * 3 / (1 + 2 * min(max(config.layer_share, 0.0), 1.0))
    if config.trains_in_bfloat16(device):
        train_rate *= BF16_SPEEDUP
    example_tokens = min(mean_tokens, config.max_length)

    def generation(count: int) -> float:  # greedy, in batches of GENERATION_BATCH, up to max_new_tokens each
        if config.task == ENCODER.finetune_task or count <= 0:
            return 0.0
        return math.ceil(count / GENERATION_BATCH) * config.max_new_tokens * CPU_GENERATION_STEP_SECONDS_135M / scale

    heldout = min(heldout_examples, config.test_limit)
    evaluations = 2 * (heldout * example_tokens / loss_rate + generation(heldout))
    checks = math.ceil(steps / max(config.eval_every, 1)) if validation_examples else 0
    validation = min(validation_examples, VALIDATION_LOSS_LIMIT)
    evaluations += checks * (validation * example_tokens / loss_rate + generation(config.sample_count))
    lora_params = layers * 7 * 2 * hidden * config.lora_rank
    activations = tokens_per_step * hidden * layers * 40 * 4
    memory = parameters * 4 + lora_params * 16 + activations + 600 * 2**20
    seconds = tokens / train_rate
    return Estimate(
        steps=steps,
        tokens=tokens,
        seconds=seconds,
        memory_bytes=int(memory),
        job_seconds=LOAD_SECONDS + seconds + evaluations,
    )
