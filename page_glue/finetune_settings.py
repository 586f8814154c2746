"""The Fine-tune page's settings form: a preset, the adapter method (LoRA or AdaLoRA, with AdaLoRA's own
settings), training, checkpoints and probes; it returns the ``TrainConfig`` to launch."""

from __future__ import annotations

import streamlit as st

from finetune.config import ALL_LINEAR, MIXED_PRECISIONS, PRESETS, TrainConfig, preset
from finetune.methods import METHODS
from finetune.tracking import MlflowTracker, installed_trackers
from model_zoo.kinds import ENCODER
from model_zoo.paths import data_home

TARGETS = [
    ALL_LINEAR,
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "query",
    "key",
    "value",
    "dense",
]

PRECISION_TITLES = {"no": "float32", "bf16": "bfloat16", "auto": "auto (bfloat16 if native)"}


def settings_form(task: str, model_id: str) -> TrainConfig:
    name = st.selectbox("Preset", list(PRESETS), format_func=lambda n: PRESETS[n]["description"], key="ft_preset")
    base = preset(name, model=model_id, task=task)
    if task == ENCODER.finetune_task:
        base.target_modules = ["query", "value"]
    with st.expander("LoRA and training settings", expanded=False):
        base.method = st.radio(
            "Method", list(METHODS), format_func=lambda m: METHODS[m].title, horizontal=True, key="ft_method"
        )
        if base.method == "adalora":
            adalora_settings(base, name)
        c = st.columns(4)
        base.lora_rank = c[0].number_input("Rank", 1, 256, base.lora_rank, key=f"ft_rank_{name}")
        base.lora_alpha = c[1].number_input("Alpha", 1, 512, base.lora_alpha, key=f"ft_alpha_{name}")
        base.lora_dropout = c[2].number_input("Dropout", 0.0, 0.9, base.lora_dropout, 0.01, key=f"ft_drop_{name}")
        base.learning_rate = c[3].number_input(
            "Learning rate", 1e-6, 0.5, base.learning_rate, format="%.0e", key=f"ft_lr_{name}"
        )
        defaults = base.target_modules if isinstance(base.target_modules, list) else [base.target_modules]
        left, right, precision = st.columns([2.6, 1, 1.4])
        targets = left.multiselect("Target modules", TARGETS, default=defaults, key=f"ft_targets_{task}_{name}")
        base.target_modules = ALL_LINEAR if ALL_LINEAR in targets or not targets else targets
        base.layer_share = right.number_input(
            "Share of layers adapted",
            0.05,
            1.0,
            float(base.layer_share),
            0.05,
            format="%.2f",
            key=f"ft_layers_{name}",
            help="Counted from the top layer. Gradients stop at the lowest adapted layer, so a share below 1 "
            "makes every step cheaper.",
        )
        base.mixed_precision = precision.selectbox(
            "Training precision",
            MIXED_PRECISIONS,
            index=MIXED_PRECISIONS.index(base.mixed_precision),
            format_func=PRECISION_TITLES.get,
            key=f"ft_precision_{name}",
            help="On a CPU with native bfloat16 (AVX512-BF16, AMX) a bfloat16 autocast runs the training forward "
            "about 1.8x as fast; weights, optimizer, evaluations and probes stay float32. Auto uses it where the "
            "CPU has it. Models on a GPU train in their half precision either way.",
        )
        c = st.columns(5)
        base.max_steps = c[0].number_input(
            "Max steps (0: use epochs)", 0, 100_000, base.max_steps, key=f"ft_steps_{name}"
        )
        base.epochs = c[1].number_input("Epochs", 0.0, 100.0, float(base.epochs), 0.5, key=f"ft_epochs_{name}")
        base.batch_size = c[2].number_input("Batch size", 1, 256, base.batch_size, key=f"ft_batch_{name}")
        base.max_length = c[3].number_input("Max length", 8, 8192, base.max_length, key=f"ft_len_{name}")
        base.seed = c[4].number_input("Seed", 0, 2**31 - 1, base.seed, key=f"ft_seed_{name}")
        c = st.columns(4)
        base.validation_fraction = c[0].slider("Validation share", 0.0, 0.5, 0.1, 0.05, key="ft_val")
        base.test_limit = c[1].number_input(
            "Held-out examples scored (base vs tuned)", 0, 10_000, base.test_limit, key="ft_test_limit"
        )
        base.checkpoint_every = c[2].number_input(
            "Checkpoint and probes every N steps (0: at the end)", 0, 100_000, base.checkpoint_every, key="ft_ckpt"
        )
        base.probe_count = c[3].number_input("Probes (held-out questions)", 0, 20, base.probe_count, key="ft_probes")
        tracking_settings(base)
    base.name = st.text_input("Job name", value="", placeholder="e.g. addition-quick", key="ft_name")
    return base


def tracking_settings(config: TrainConfig) -> None:
    """MLflow beside TensorBoard, offered when it is installed; the tracking URI defaults as the job does."""
    if "mlflow" not in installed_trackers():
        st.caption("TensorBoard event files are always written. MLflow logging: `pip install mlflow-skinny`.")
        return
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    if left.checkbox("Also log to MLflow", key="ft_mlflow"):
        config.track_with = ["mlflow"]
        config.mlflow_uri = right.text_input(
            "MLflow tracking URI",
            placeholder=MlflowTracker.default_uri(data_home()),
            key="ft_mlflow_uri",
            help="Empty: $MLFLOW_TRACKING_URI when set, else a folder store under the data folder.",
        ).strip()


def adalora_settings(config, preset_name: str) -> None:
    """AdaLoRA's own settings (peft's AdaLoraConfig); its initial rank replaces LoRA's rank."""
    c = st.columns(4)
    config.adalora_init_r = c[0].number_input("Initial rank", 1, 256, config.adalora_init_r, key="ft_ada_init")
    config.adalora_target_r = c[1].number_input("Target rank", 1, 256, config.adalora_target_r, key="ft_ada_target")
    config.adalora_tinit = c[2].number_input("tinit (warm-up steps)", 0, 100_000, config.adalora_tinit, key="ft_ada_ti")
    config.adalora_tfinal = c[3].number_input(
        "tfinal (final steps)", 0, 100_000, config.adalora_tfinal, key="ft_ada_tf"
    )
    c = st.columns(4)
    config.adalora_delta_t = c[0].number_input("deltaT", 1, 1000, config.adalora_delta_t, key="ft_ada_dt")
    config.adalora_beta1 = c[1].number_input("beta1", 0.0, 1.0, config.adalora_beta1, 0.01, key="ft_ada_b1")
    config.adalora_beta2 = c[2].number_input("beta2", 0.0, 1.0, config.adalora_beta2, 0.01, key="ft_ada_b2")
    config.adalora_orth_reg_weight = c[3].number_input(
        "Orthogonal regularisation", 0.0, 10.0, config.adalora_orth_reg_weight, 0.1, key="ft_ada_orth"
    )
    st.caption(
        "AdaLoRA starts every adapted weight at the initial rank and prunes the budget to an average of the "
        "target rank between step tinit and tfinal steps before the end, every deltaT steps."
    )
