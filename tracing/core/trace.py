"""The central data: a `Trace` of `Moment`s, the settings that made it, and its one-file storage.

A trace file is a safetensors file (see docs/trace-format.md): every per-moment array of one kind is
flattened and concatenated into one tensor, and everything else (ids, texts, scalars, array shapes) is
JSON in the header metadata under ``momentscope.trace``. Loading gives back an equal trace, float16
attention included.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from model_zoo.identity import ModelIdentity
from tracing.core.token_text import TokenPiece, pieces_at, readable_pieces

FORMAT_NAME = "momentscope-trace"
FORMAT_VERSION = 1
METADATA_KEY = "momentscope.trace"
MAX_NEW_TOKENS_LIMIT = 4096
STOP_REASONS = ("eos", "max_new_tokens", "stopped")


@dataclass
class DecodingSettings:
    """How a trace decodes. Greedy unless ``do_sample``; top_k = 0 and top_p = 1.0 mean "no filter".

    ``record_top_k`` is how many of the most likely tokens each moment keeps; ``seed`` makes sampling
    reproducible (None draws a fresh seed, which the trace records in ``info["seed_used"]``).
    """

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    record_top_k: int = 20
    use_chat_template: bool = True
    stop_at_eos: bool = True  # False generates exactly max_new_tokens (benchmarks, looking past the end)

    def validate(self) -> DecodingSettings:
        """Raises ValueError naming the first bad setting; returns self so calls can chain."""

        def is_int(value) -> bool:
            return isinstance(value, int | np.integer) and not isinstance(value, bool)

        if not is_int(self.max_new_tokens) or not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
            raise ValueError(
                f"max_new_tokens must be a whole number from 1 to {MAX_NEW_TOKENS_LIMIT}, got {self.max_new_tokens!r}."
            )
        if (
            not isinstance(self.temperature, int | float)
            or not math.isfinite(self.temperature)
            or self.temperature <= 0
        ):
            raise ValueError(f"temperature must be a number above 0, got {self.temperature!r}.")
        if not is_int(self.top_k) or self.top_k < 0:
            raise ValueError(f"top_k must be a whole number >= 0 (0 turns it off), got {self.top_k!r}.")
        if not isinstance(self.top_p, int | float) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be above 0 and at most 1 (1 turns it off), got {self.top_p!r}.")
        if self.seed is not None and (not is_int(self.seed) or not 0 <= self.seed < 2**63):
            raise ValueError(f"seed must be a whole number from 0 to 2**63-1, or None, got {self.seed!r}.")
        if not is_int(self.record_top_k) or self.record_top_k < 1:
            raise ValueError(f"record_top_k must be a whole number >= 1, got {self.record_top_k!r}.")
        return self


@dataclass(eq=False)
class Moment:
    """One decoding step: what the model saw (attention) and said (its distribution) and what was chosen.

    Probabilities and entropy are always those of the model's own softmax at temperature 1, whatever the
    sampling settings. ``eligible_count`` is how many vocabulary tokens the settings left choosable: 1 under
    greedy decoding (only the arg-max can be picked), the vocabulary size when sampling without filters,
    fewer under top-k / top-p. ``eligible_mask`` marks which of ``top_ids`` were among them.
    """

    index: int
    token_id: int
    token: str
    prob: float
    rank: int
    entropy: float
    top_ids: np.ndarray  # int64 [k]
    top_probs: np.ndarray  # float32 [k], descending
    top_tokens: list[str]  # readable text of top_ids
    eligible_count: int
    eligible_mask: np.ndarray  # bool [k]
    attention: np.ndarray | None  # float16 [layers, heads, keys], keys = prompt_len + index
    seconds: float

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Moment) and not _moment_differences(self, other)


@dataclass(eq=False)
class Trace:
    """One generation, moment by moment. ``prompt_ids`` are the tokens of ``rendered_prompt``."""

    model_id: str
    adapter: str | None
    prompt: str
    rendered_prompt: str
    prompt_ids: list[int]
    prompt_tokens: list[str]
    settings: DecodingSettings
    moments: list[Moment] = field(default_factory=list)
    stop_reason: str = "max_new_tokens"
    text: str = ""  # the generated text, decoded as a whole (so characters split across tokens join up)
    prefill_seconds: float = 0.0  # the prompt's forward pass, part of moment 0's seconds
    info: dict = field(default_factory=dict)  # free-form extras (device, dtype, library versions)

    @property
    def identity(self) -> ModelIdentity:
        """The model that made this trace, as `LoadedModel.identity` names it."""
        return ModelIdentity(self.model_id, self.adapter)

    @property
    def generated_ids(self) -> list[int]:
        return [m.token_id for m in self.moments]

    @property
    def all_ids(self) -> list[int]:
        return list(self.prompt_ids) + self.generated_ids

    @property
    def all_tokens(self) -> list[str]:
        """Readable texts of ``all_ids`` (read them together: `token_pieces`)."""
        return list(self.prompt_tokens) + [m.token for m in self.moments]

    def token_pieces(self) -> list[TokenPiece]:
        """Every token, prompt then generated, read in context: a character split over tokens shows on each."""
        return readable_pieces(self.all_tokens)

    def moment_piece(self, index: int) -> TokenPiece:
        """Moment ``index``'s chosen token read in context."""
        return self.candidate_pieces(index, [self.moments[index].token])[0]

    def candidate_pieces(self, index: int, candidates: Sequence[str]) -> list[TokenPiece]:
        """Candidates for moment ``index``'s token (its top-k, a layer's guesses), each read where it would
        stand; the chosen token also with the tokens after it."""
        return pieces_at(self.all_tokens, self.prompt_len + index, candidates)

    @property
    def prompt_len(self) -> int:
        return len(self.prompt_ids)

    @property
    def num_layers(self) -> int | None:
        first = next((m.attention for m in self.moments if m.attention is not None), None)
        return None if first is None else int(first.shape[0])

    @property
    def num_heads(self) -> int | None:
        first = next((m.attention for m in self.moments if m.attention is not None), None)
        return None if first is None else int(first.shape[1])

    @property
    def total_seconds(self) -> float:
        """Wall time of the whole generation (moment 0's seconds include the prompt's forward pass)."""
        return sum(m.seconds for m in self.moments)

    @property
    def attention_nbytes(self) -> int:
        """Bytes held by the attention rows (the bulk of a trace: they grow with tokens x context)."""
        return sum(m.attention.nbytes for m in self.moments if m.attention is not None)

    @property
    def array_nbytes(self) -> int:
        """Bytes held by all per-moment arrays."""
        return sum(
            getattr(m, name).nbytes for m in self.moments for name in ARRAY_FIELDS if getattr(m, name) is not None
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trace) and traces_equal(self, other)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the trace to one safetensors file, atomically (a reader never sees half a file)."""
        from safetensors.numpy import save_file

        path = Path(path)
        tensors, moments_meta = _pack_moments(self.moments)
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "model_id": self.model_id,
            "adapter": self.adapter,
            "prompt": self.prompt,
            "rendered_prompt": self.rendered_prompt,
            "prompt_ids": [int(i) for i in self.prompt_ids],
            "prompt_tokens": list(self.prompt_tokens),
            "settings": asdict(self.settings),
            "stop_reason": self.stop_reason,
            "text": self.text,
            "prefill_seconds": self.prefill_seconds,
            "info": self.info,
            "moments": moments_meta,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={METADATA_KEY: json.dumps(meta, ensure_ascii=False)})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path


# Per-moment arrays and the dtype each is stored in; each becomes one flat tensor in the file.
ARRAY_FIELDS: dict[str, np.dtype] = {
    "top_ids": np.dtype(np.int64),
    "top_probs": np.dtype(np.float32),
    "eligible_mask": np.dtype(np.bool_),
    "attention": np.dtype(np.float16),
}
SCALAR_FIELDS = ("index", "token_id", "token", "prob", "rank", "entropy", "top_tokens", "eligible_count", "seconds")


def _pack_moments(moments: list[Moment]) -> tuple[dict[str, np.ndarray], list[dict]]:
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in ARRAY_FIELDS}
    meta = []
    for moment in moments:
        entry = {name: getattr(moment, name) for name in SCALAR_FIELDS}
        shapes = {}
        for name, dtype in ARRAY_FIELDS.items():
            array = getattr(moment, name)
            if array is None:
                shapes[name] = None
                continue
            array = np.asarray(array)
            if array.dtype != dtype:
                raise TypeError(f"moment {moment.index}: {name} must be {dtype}, not {array.dtype}")
            shapes[name] = list(array.shape)
            chunks[name].append(array.reshape(-1))
        entry["shapes"] = shapes
        meta.append(entry)
    tensors = {
        name: np.concatenate(parts) if parts else np.zeros(0, dtype=ARRAY_FIELDS[name])
        for name, parts in chunks.items()
    }
    return tensors, meta


def load_trace(path: str | os.PathLike) -> Trace:
    """Reads a trace written by `Trace.save`. Raises ValueError when the file is not a trace."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            if METADATA_KEY not in header:
                raise ValueError(f"{path} is a safetensors file but not a Momentscope trace.")
            meta = json.loads(header[METADATA_KEY])
            flat = {name: handle.get_tensor(name) for name in ARRAY_FIELDS}
    except SafetensorError as exc:
        raise ValueError(f"{path} is not a trace file: {exc}") from exc
    if meta.get("format") != FORMAT_NAME or meta.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported trace format {meta.get('format')!r} version {meta.get('version')!r}.")
    offsets = dict.fromkeys(ARRAY_FIELDS, 0)
    moments = []
    for entry in meta["moments"]:
        arrays = {}
        for name, shape in entry["shapes"].items():
            if shape is None:
                arrays[name] = None
                continue
            size = math.prod(shape)
            arrays[name] = flat[name][offsets[name] : offsets[name] + size].reshape(shape).copy()
            offsets[name] += size
        moments.append(Moment(**{name: entry[name] for name in SCALAR_FIELDS}, **arrays))
    return Trace(
        model_id=meta["model_id"],
        adapter=meta["adapter"],
        prompt=meta["prompt"],
        rendered_prompt=meta["rendered_prompt"],
        prompt_ids=meta["prompt_ids"],
        prompt_tokens=meta["prompt_tokens"],
        settings=DecodingSettings(**meta["settings"]),
        moments=moments,
        stop_reason=meta["stop_reason"],
        text=meta["text"],
        prefill_seconds=meta["prefill_seconds"],
        info=meta.get("info", {}),
    )


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _moment_differences(a: Moment, b: Moment) -> list[str]:
    diffs = [f"moment {a.index}: {name} differs" for name in SCALAR_FIELDS if getattr(a, name) != getattr(b, name)]
    diffs += [
        f"moment {a.index}: {name} differs"
        for name in ARRAY_FIELDS
        if not _same_array(getattr(a, name), getattr(b, name))
    ]
    return diffs


def trace_differences(a: Trace, b: Trace) -> list[str]:
    """What differs between two traces, field by field (arrays compared exactly, dtype included)."""
    diffs = []
    for f in fields(Trace):
        if f.name == "moments":
            continue
        if getattr(a, f.name) != getattr(b, f.name):
            diffs.append(f"{f.name} differs")
    if len(a.moments) != len(b.moments):
        diffs.append(f"{len(a.moments)} moments vs {len(b.moments)}")
    for ma, mb in zip(a.moments, b.moments, strict=False):
        diffs += _moment_differences(ma, mb)
    return diffs


def traces_equal(a: Trace, b: Trace) -> bool:
    """Whether two traces hold the same data (arrays compared exactly, dtype included)."""
    return not trace_differences(a, b)
