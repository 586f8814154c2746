"""Batched decoding: one scheduler per loaded model runs the KV-cache steps of every stream in flight
(sessions tracing, branches, evaluation jobs) as one forward pass, so a room of users shares each pass
instead of queueing for the model step by step.

The rows of the shared cache are left-padded to one length; a 2-D attention mask marks each row's real
columns and explicit position ids give each row its own positions, so every stream gets the logits and
attention rows it would get alone (to float rounding, which batching changes by ~1e-5; tested). A new
stream reads (prefills) its prefix but the last token, beside the other new streams, left-padded, and
joins the batch's next step with that token. The caches of the prefixes read lately are kept: a new stream
that starts with one (the same prompt in every tab of a class, or the chat template's system part) reads
only the rest, and one whose whole prefix but the last token is kept costs no pass of its own. As every
prefix's last token is read by a step, a seeded rerun alone gives the numbers of its first run exactly.
A stream whose consumer is not back in time for a step gets a masked hole in its row instead of holding
the others up; one that stays away for several steps leaves the batch and rejoins when it asks again.
Each pass holds the model's lock, so hooked or teacher-forced passes of other analyses never interleave
with one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from model_zoo.seam import AroundForward, KVCacheSteps, Step, run_forward

GATHER_SECONDS = 0.03  # how long a pass waits for every batched stream's next token
AWAY_STEPS = 3  # passes in a row a stream may miss before it leaves the batch
MAX_ROWS = 32
PREFIX_BYTES = 256 * 2**20  # the kept prefixes' caches, at most (oldest dropped first)
PREFIX_ENTRIES = 16


class BatchingUnsupported(Exception):
    """The model's cache or forward cannot hold rows of different lengths."""


@dataclass(eq=False)
class _Request:
    stream: Stream
    ids: list[int]  # the tokens still to read (a fresh stream's whole prefix, less any kept part of it)
    done: threading.Event = field(default_factory=threading.Event)
    result: Step | None = None
    error: BaseException | None = None
    prefix: list[int] | None = None  # a fresh stream's whole prefix
    read_seconds: float = 0.0  # the pass that read a fresh stream's prefix but its last token


class _Rows:
    """Rows of a KV cache: per layer (keys, values) ``[rows, kv_heads, columns, head_dim]``, a mask of each
    row's real columns ``[rows, columns]`` (bool) and the stream each row belongs to."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]], mask: torch.Tensor, streams: list[Stream]):
        self.layers = layers
        self.mask = mask
        self.streams = streams

    @property
    def columns(self) -> int:
        return self.mask.shape[1]

    def padded_left(self, columns: int) -> _Rows:
        extra = columns - self.columns
        if extra <= 0:
            return self
        pad = [
            (torch.nn.functional.pad(k, (0, 0, extra, 0)), torch.nn.functional.pad(v, (0, 0, extra, 0)))
            for k, v in self.layers
        ]
        return _Rows(pad, torch.nn.functional.pad(self.mask, (extra, 0)), self.streams)

    def select(self, rows: Sequence[int]) -> _Rows:
        index = torch.tensor(list(rows), device=self.mask.device)
        layers = [(k.index_select(0, index), v.index_select(0, index)) for k, v in self.layers]
        return _Rows(layers, self.mask.index_select(0, index), [self.streams[r] for r in rows]).trimmed()

    def trimmed(self) -> _Rows:
        """Without the leading columns that no row uses."""
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else self.columns
        if first == 0:
            return self
        return _Rows([(k[:, :, first:], v[:, :, first:]) for k, v in self.layers], self.mask[:, first:], self.streams)

    def compacted(self) -> _Rows:
        """A one-row cache without its masked columns (its positions are in its keys already)."""
        if bool(self.mask.all()):
            return self
        real = self.mask[0].nonzero().squeeze(1)
        layers = [(k.index_select(2, real), v.index_select(2, real)) for k, v in self.layers]
        return _Rows(layers, self.mask[:, real], self.streams)

    def nbytes(self) -> int:
        return sum(k.nelement() * k.element_size() + v.nelement() * v.element_size() for k, v in self.layers)

    def first(self, columns: int, stream: Stream) -> _Rows:
        """The first ``columns`` columns of a one-row cache whose columns are all real, as ``stream``'s rows."""
        layers = [(k[:, :, :columns], v[:, :, :columns]) for k, v in self.layers]
        return _Rows(layers, self.mask[:, :columns], [stream])

    @staticmethod
    def joined(parts: list[_Rows]) -> _Rows:
        columns = max(p.columns for p in parts)
        parts = [p.padded_left(columns) for p in parts]
        layers = [
            (torch.cat([p.layers[i][0] for p in parts]), torch.cat([p.layers[i][1] for p in parts]))
            for i in range(len(parts[0].layers))
        ]
        return _Rows(layers, torch.cat([p.mask for p in parts]), [s for p in parts for s in p.streams])


class _Prefixes:
    """The one-row caches of prefixes read lately, by their token ids, newest last, within a byte budget.

    Kept tensors are never written to: a pass concatenates new tensors onto the ones it is given."""

    def __init__(self, max_bytes: int = PREFIX_BYTES, max_entries: int = PREFIX_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, ...], _Rows] = OrderedDict()

    def keep(self, ids: Sequence[int], rows: _Rows) -> None:
        """Keeps one stream's rows (``ids`` read, holes allowed) under ``ids``."""
        rows = rows.compacted()
        key = tuple(ids)
        self._entries.pop(key, None)
        if rows.nbytes() > self.max_bytes:
            return
        self._entries[key] = rows
        while len(self._entries) > self.max_entries or sum(r.nbytes() for r in self._entries.values()) > (
            self.max_bytes
        ):
            self._entries.popitem(last=False)

    def longest(self, ids: Sequence[int]) -> tuple[int, _Rows | None]:
        """The longest kept prefix of ``ids`` short of its last token (whose logits and attention row a
        step must compute): its length and the rows holding it (0 and None when none is kept)."""
        best, best_key = 0, None
        wanted = np.asarray(ids[:-1], dtype=np.int64)
        for key in self._entries:
            n = min(len(key), len(wanted))
            differs = np.flatnonzero(np.asarray(key[:n], dtype=np.int64) != wanted[:n])
            shared = int(differs[0]) if len(differs) else n
            if shared > best:
                best, best_key = shared, key
        if best_key is None:
            return 0, None
        self._entries.move_to_end(best_key)  # used: now the newest
        return best, self._entries[best_key]

    def clear(self) -> None:
        self._entries.clear()


def _empty_cache(config):
    """A dynamic cache for ``config`` whose layers are all plain (no sliding windows, no shared layers)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=config)
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        raise BatchingUnsupported("the model's cache is not one plain dynamic layer per decoder layer")
    return cache


def _cache_from(config, layers: list[tuple[torch.Tensor, torch.Tensor]] | None):
    """A cache holding ``layers`` as they are (no copy: a pass concatenates new tensors, so the ones given
    stay as they were if it fails)."""
    cache = _empty_cache(config)
    for layer, (keys, values) in zip(cache.layers, layers or [], strict=False):
        layer.lazy_initialization(keys, values)
        layer.keys, layer.values = keys, values
    return cache


class StepScheduler:
    """Serves the `Stream`s of one loaded model from a thread of its own, batching their steps."""

    def __init__(self, loaded, max_rows: int = MAX_ROWS, gather_seconds: float = GATHER_SECONDS) -> None:
        self.loaded = loaded
        self.max_rows = max_rows
        self.gather_seconds = gather_seconds
        self._condition = threading.Condition()
        self._pending: list[_Request] = []
        self._batch: _Rows | None = None
        self._thread: threading.Thread | None = None
        if not {"attention_mask", "position_ids", "past_key_values"} <= loaded.forward_keywords:
            raise BatchingUnsupported("the model's forward takes no attention mask or position ids")
        _empty_cache(loaded.model.config)
        self.prefixes = _Prefixes()
        self.passes = 0  # forward passes run, for the record
        self.rows_served = 0  # stream steps answered by them
        self.tokens_reused = 0  # prefix tokens taken from kept caches instead of read

    def stream(self, attention: bool = True) -> Stream:
        return Stream(self, attention)

    # ---- called from the streams' threads --------------------------------------------------------------

    def _submit(self, request: _Request) -> Step:
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="step-scheduler", daemon=True)
                self._thread.start()
            self._pending.append(request)
            self._condition.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def _close(self, stream: Stream) -> None:
        with self._condition:
            stream.closed = True
            self._condition.notify_all()

    # ---- the scheduler's thread ------------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            with self._condition:
                while not self._pending:
                    self._drop_closed()
                    if not self._condition.wait(timeout=30) and not self._pending and self._batch is None:
                        self._thread = None  # idle: a later request starts a new thread
                        return
                self._gather()
                requests, self._pending = self._pending, []
                self._drop_closed()
            self._run(requests)

    def _gather(self) -> None:
        """Waits (briefly) until every stream in the batch has asked for its next step."""
        deadline = time.monotonic() + self.gather_seconds
        while self._batch is not None:
            asking = {r.stream for r in self._pending}
            if all(s in asking or s.closed for s in self._batch.streams):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._condition.wait(left)

    def _drop_closed(self) -> None:
        batch = self._batch
        if batch is None:
            return
        keep = [i for i, s in enumerate(batch.streams) if not s.closed]
        if len(keep) < len(batch.streams):
            self._batch = batch.select(keep) if keep else None

    def _run(self, requests: list[_Request]) -> None:
        fresh = [r for r in requests if r.stream.rows is None and not r.stream.in_batch]
        later = [r for r in requests if r not in fresh]
        for request in fresh:
            self._start_from_kept(request)
        # A fresh stream reads its prefix but the last token (from the end of any kept part) and joins the
        # step with that token, so a prefix read before gives the numbers its first reading gave, bit for bit.
        # A one-token prefix with nothing before it has nothing to read first: it is read and answered alone.
        whole = [r for r in fresh if r.stream.rows is None and len(r.ids) == 1]
        reading = [r for r in fresh if len(r.ids) > 1]
        kept = [r for r in fresh if r.stream.rows is not None and len(r.ids) == 1]  # all but the last token
        for request in [r for r in later if len(r.ids) != 1]:  # more than one token after the prefix: alone
            self._leave(request.stream)
            self._read_alone(request)
        if whole:
            self._prefill(whole, answer=True)
        read = self._prefill(reading, answer=False) if reading else []
        single = [r for r in later if len(r.ids) == 1] + kept + read
        if single:
            self._step(single)

    def _start_from_kept(self, request: _Request) -> None:
        """Gives a fresh stream the kept cache of the longest kept part of its prefix, leaving the rest to read."""
        shared, kept = self.prefixes.longest(request.ids)
        request.prefix = request.ids
        if kept is not None:
            request.stream.rows = kept.first(shared, request.stream)
            request.ids = request.ids[shared:]
            self.tokens_reused += shared

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor | None, positions: torch.Tensor | None, layers, attention):
        loaded = self.loaded
        cache = _cache_from(loaded.model.config, layers)
        extra = {} if mask is None else {"attention_mask": mask.long(), "position_ids": positions}
        started = time.perf_counter()
        out = run_forward(loaded, ids, cache=cache, keep=1, attentions=attention, **extra)
        seconds = time.perf_counter() - started
        self.passes += 1
        return out, [(layer.keys, layer.values) for layer in cache.layers], seconds

    def _answer(self, requests: list[_Request], rows: list[int], out, mask: torch.Tensor, seconds: float) -> None:
        """Gives each request its row's last-position logits and the attention row over its real columns."""
        weights = None
        if out.attentions and all(a is not None for a in out.attentions):
            weights = torch.stack([a[:, :, -1, :] for a in out.attentions], dim=1)  # [rows, layers, heads, cols]
            weights = weights.to(device="cpu", dtype=torch.float16)
        real = mask.cpu()
        self.rows_served += len(requests)
        for request, row in zip(requests, rows, strict=True):
            attention = None
            if weights is not None and request.stream.attention:
                attention = np.ascontiguousarray(weights[row][:, :, real[row]].numpy())
            request.result = Step(out.logits[row, -1], attention, seconds + request.read_seconds)
            request.done.set()

    def _prefill(self, requests: list[_Request], answer: bool) -> list[_Request]:
        """Reads the new streams' prefixes (after any kept part, their rows so far) in one left-padded pass and
        keeps what each has read. ``answer``: each reads all its tokens and gets its step; else each reads all
        but its last token, left for a step to read. The requests read (their rows set), failed ones dropped."""
        device = self.loaded.device
        reads = [r.ids if answer else r.ids[:-1] for r in requests]
        past = None
        if any(r.stream.rows is not None for r in requests):
            some = next(r.stream.rows for r in requests if r.stream.rows is not None)
            past = _Rows.joined([r.stream.rows or some.first(0, r.stream) for r in requests])
        columns = max(len(ids) for ids in reads)
        ids = torch.zeros(len(requests), columns, dtype=torch.long, device=device)
        mask = torch.zeros(len(requests), columns, dtype=torch.bool, device=device)
        for row, read in enumerate(reads):
            ids[row, columns - len(read) :] = torch.tensor(read, device=device)
            mask[row, columns - len(read) :] = True
        if past is not None:
            mask = torch.cat([past.mask, mask], dim=1)
        explicit = past is not None or not bool(mask.all())  # else the model's own positions are these
        positions = (mask.long().cumsum(1) - 1).clamp(min=0)[:, mask.shape[1] - columns :]
        attention = answer and any(r.stream.attention for r in requests)
        try:
            out, layers, seconds = self._forward(
                ids,
                mask if explicit else None,
                positions if explicit else None,
                past.layers if past is not None else None,
                attention,
            )
        except Exception as exc:
            if len(requests) == 1:
                self._fail(requests, exc)
                return []
            # one bad prefix must not fail the others: read each alone
            return [r for request in requests for r in self._prefill([request], answer)]
        rows = _Rows(layers, mask, [r.stream for r in requests])
        for row, request in enumerate(requests):
            request.stream.rows = rows.select([row])
            if not answer:
                self.prefixes.keep(request.prefix[:-1], request.stream.rows)
                request.ids = request.ids[-1:]
                request.read_seconds = seconds
        if answer:
            self._answer(requests, list(range(len(requests))), out, mask, seconds)
        return requests

    def _read_alone(self, request: _Request) -> None:
        stream = request.stream
        rows = stream.rows
        device = self.loaded.device
        ids = torch.tensor([request.ids], dtype=torch.long, device=device)
        mask = torch.cat([rows.mask, torch.ones(1, len(request.ids), dtype=torch.bool, device=device)], dim=1)
        start = int(rows.mask.sum())
        positions = torch.arange(start, start + len(request.ids), device=device).unsqueeze(0)
        try:
            out, layers, seconds = self._forward(ids, mask, positions, rows.layers, stream.attention)
        except Exception as exc:
            self._fail([request], exc)
            return
        stream.rows = _Rows(layers, mask, [stream])
        self._answer([request], [0], out, mask, seconds)

    def _leave(self, stream: Stream) -> None:
        """Takes ``stream``'s row out of the batch into a cache of its own."""
        batch = self._batch
        if batch is None or stream not in batch.streams:
            return
        row = batch.streams.index(stream)
        stream.rows = batch.select([row])
        rest = [i for i in range(len(batch.streams)) if i != row]
        self._batch = batch.select(rest) if rest else None
        stream.in_batch = False
        stream.missed = 0

    def _step(self, requests: list[_Request]) -> None:
        """One pass over the batch: the asking streams get their token, the others a masked hole."""
        room = self.max_rows - (len(self._batch.streams) if self._batch is not None else 0)
        outside = [r for r in requests if not r.stream.in_batch]
        for request in outside[max(room, 0) :]:  # the batch is full: served alone until a row frees
            self._read_alone(request)
        requests = [r for r in requests if r.stream.in_batch] + outside[: max(room, 0)]
        joining = [r.stream for r in outside[: max(room, 0)]]
        parts = ([self._batch] if self._batch is not None else []) + [s.rows for s in joining]
        if not requests:
            return
        batch = _Rows.joined(parts) if len(parts) > 1 else parts[0]
        for stream in joining:
            stream.rows, stream.in_batch = None, True
        self._batch = batch
        by_stream = {r.stream: r for r in requests}
        device = self.loaded.device
        asking = torch.tensor([s in by_stream for s in batch.streams], device=device)
        ids = torch.tensor([[by_stream[s].ids[0] if s in by_stream else 0] for s in batch.streams], device=device)
        positions = batch.mask.sum(dim=1, keepdim=True)
        mask = torch.cat([batch.mask, asking.unsqueeze(1)], dim=1)
        attention = any(s.attention for s in by_stream)
        try:
            out, layers, seconds = self._forward(ids, mask, positions, batch.layers, attention)
        except Exception as exc:
            self._recover(list(by_stream.values()), exc)
            return
        self._batch = _Rows(layers, mask, batch.streams)
        self._answer(requests, [batch.streams.index(r.stream) for r in requests], out, mask, seconds)
        for stream in batch.streams:
            stream.missed = 0 if stream in by_stream else stream.missed + 1
        for stream in [s for s in batch.streams if s.missed >= AWAY_STEPS]:
            self._leave(stream)

    def _recover(self, requests: list[_Request], exc: BaseException) -> None:
        """A failed pass left the batch's cache as it was before it: each stream is served alone, so only
        the request that fails alone gets the error."""
        if len(requests) == 1 and len(self._batch.streams) == 1:
            self._fail(requests, exc)
            return
        for request in requests:
            self._leave(request.stream)
            self._read_alone(request)

    @staticmethod
    def _fail(requests: list[_Request], exc: BaseException) -> None:
        for request in requests:
            request.error = exc
            request.done.set()


class Stream:
    """One request's KV-cache stream through a `StepScheduler`: ``step(prefix)`` first, then ``step([token])``
    per moment; ``close()`` (or leaving a ``with`` block) frees its row."""

    def __init__(self, scheduler: StepScheduler, attention: bool) -> None:
        self.scheduler = scheduler
        self.attention = attention
        self.rows: _Rows | None = None  # its own cache while it is outside the batch
        self.in_batch = False
        self.missed = 0
        self.closed = False

    def step(self, ids: Sequence[int]) -> Step:
        if self.closed:
            raise RuntimeError("This stream is closed.")
        ids = [int(i) for i in ids]
        if not ids:
            raise ValueError("A step needs at least one token.")
        vocab = self.scheduler.loaded.model.get_input_embeddings().num_embeddings
        if any(i < 0 or i >= vocab for i in ids):
            raise ValueError(f"Token ids must lie in 0..{vocab - 1}; got {[i for i in ids if i < 0 or i >= vocab]}.")
        return self.scheduler._submit(_Request(self, ids))

    def close(self) -> None:
        self.scheduler._close(self)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_CREATING = threading.Lock()


def scheduler_for(loaded) -> StepScheduler | None:
    """The model's one scheduler (made on first use), or None when its cache or forward cannot batch."""
    with _CREATING:
        if loaded.scheduler is None:
            try:
                loaded.scheduler = StepScheduler(loaded)
            except BatchingUnsupported:
                loaded.scheduler = False
        return loaded.scheduler or None


def open_stream(loaded, attention: bool = True, around: AroundForward | None = None) -> Stream | KVCacheSteps:
    """A KV-cache stream for one decode: batched with every other stream on the model when the model's
    ``batching`` is on and it can batch, else the model's own steps under its lock. A stream whose forwards
    are wrapped (``around``: an intervention's hooks) is never batched: its hooks must see its row alone."""
    scheduler = scheduler_for(loaded) if loaded.batching and around is None else None
    return scheduler.stream(attention) if scheduler is not None else KVCacheSteps(loaded, attention, around)
