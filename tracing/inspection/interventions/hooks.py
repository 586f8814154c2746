"""Plain PyTorch hooks on the modules an `AttentionLayout` names, in place for one forward pass only.

`Edits` collects what one forward changes: each edit names the batch rows it applies to (a sweep runs its
variants as the rows of one forward) and the absolute position from which it applies. ``first`` is the
absolute position of the forward's first token (the KV cache's length), so one edit serves a full forward,
a single cached step and every step of a decode continued under it.

`installed` holds the model's lock while the hooks are in place and removes them before releasing it, even
on error: another session's forward on the shared model never runs with them. Each kind of intervention
registers the function that turns it into edits (`installs`); ``ablation.py`` and ``knockout.py`` do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

Rows = Sequence[int] | None  # batch rows an edit applies to; None: every row


@dataclass
class CleanMeans:
    """What mean ablation writes: each layer's mean over the clean prefix (every position up to and including
    the moment's)."""

    head_inputs: torch.Tensor  # [layers, heads * head_dim]: the output projection's input
    mlp_outputs: torch.Tensor  # [layers, hidden]


def _select(rows: Rows):
    return slice(None) if rows is None else list(rows)


class Edits:
    """The hooks of one forward pass whose first token is at absolute position ``first``."""

    def __init__(self, loaded, layout, first: int = 0) -> None:
        self.loaded = loaded
        self.layout = layout
        self.model = loaded.base_model
        self.first = int(first)
        self.hooks: list[tuple[torch.nn.Module, str, Callable]] = []

    def local(self, start: int) -> int:
        """The index in this forward of absolute position ``start`` (0 when it lies before the forward)."""
        return max(int(start) - self.first, 0)

    def replace_input(self, module, rows: Rows, start: int, columns: slice, value) -> None:
        """The module's input, columns ``columns``, becomes ``value`` (a number or a vector) from ``start`` on."""
        at, chosen = self.local(start), _select(rows)

        def pre(_module, args):
            x = args[0].clone()
            x[chosen, at:, columns] = value
            return (x, *args[1:])

        self.hooks.append((module, "pre", pre))

    def replace_output(self, module, rows: Rows, start: int, value) -> None:
        """The module's output becomes ``value`` from ``start`` on. An output with the tokens of every row
        flattened into one axis (OPT's MLP) is read as ``[batch, positions, hidden]``."""
        at, chosen = self.local(start), _select(rows)
        batch = self._batch_size() if self.layout.family.flat_mlp else None

        def post(_module, args, output):
            out = output.clone()
            view = out if batch is None else out.view(batch[0], -1, out.shape[-1])
            view[chosen, at:] = value
            return out

        self.hooks.append((module, "post", post))

    def _batch_size(self) -> list[int]:
        """A cell holding the batch size of the forward under way (read from the first layer's input)."""
        if not hasattr(self, "_batch"):
            self._batch = [1]
            first = self.layout.layers(self.model)[0]

            def pre(_module, args, kwargs):
                self._batch[0] = _hidden(args, kwargs).shape[0]

            self.hooks.insert(0, (first, "pre-kwargs", pre))
        return self._batch

    def set_residual(self, module, rows: Rows, position: int, value: torch.Tensor) -> None:
        """A decoder layer's input (the residual stream) at absolute ``position`` becomes ``value`` [hidden]."""
        at, chosen = int(position) - self.first, _select(rows)

        def pre(_module, args, kwargs):
            if not 0 <= at < _hidden(args, kwargs).shape[1]:
                return None
            hidden = _hidden(args, kwargs).clone()
            hidden[chosen, at] = value
            if args:
                return (hidden, *args[1:]), kwargs
            return args, kwargs | {"hidden_states": hidden}

        self.hooks.append((module, "pre-kwargs", pre))

    def block_keys(self, module, rows: Rows, start: int, keys: Sequence[int]) -> None:
        """An attention module's queries from ``start`` on may not attend to the absolute positions ``keys``."""
        at, chosen, keys = self.local(start), _select(rows), list(keys)

        def pre(_module, args, kwargs):
            hidden = _hidden(args, kwargs)
            batch, queries = hidden.shape[:2]
            mask = kwargs.get("attention_mask")
            if mask is None:  # an implementation that masks causally by itself: spell the causal mask out
                mask = _causal_mask(queries, self.first, hidden.dtype, hidden.device)
            mask = mask.expand(batch, *mask.shape[1:]).clone()
            blocked = False if mask.dtype == torch.bool else torch.finfo(mask.dtype).min
            rows_index = torch.arange(batch)[chosen]
            mask[rows_index[:, None], :, at:, keys] = blocked
            return args, kwargs | {"attention_mask": mask}

        self.hooks.append((module, "pre-kwargs", pre))


def _hidden(args, kwargs) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _causal_mask(queries: int, first: int, dtype, device) -> torch.Tensor:
    """Additive ``[1, 1, queries, first + queries]``: query i sees keys up to ``first + i``."""
    keys = torch.arange(first + queries, device=device)
    visible = keys[None, :] <= (first + torch.arange(queries, device=device))[:, None]
    mask = torch.zeros(queries, first + queries, dtype=dtype, device=device)
    return mask.masked_fill(~visible, torch.finfo(dtype).min)[None, None]


@contextmanager
def installed(edits: Edits) -> Iterator[None]:
    """The edits' hooks in place, under the model's lock, for the forward passes run inside."""
    with edits.loaded.lock:
        handles = []
        try:
            for module, kind, hook in edits.hooks:
                if kind == "pre":
                    handles.append(module.register_forward_pre_hook(hook))
                elif kind == "pre-kwargs":
                    handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
                else:
                    handles.append(module.register_forward_hook(hook))
            yield
        finally:
            for handle in handles:
                handle.remove()


# intervention type -> function(edits, intervention, rows, moment position, clean means or None)
Installer = Callable[[Edits, object, Rows, int, "CleanMeans | None"], None]
INSTALLERS: dict[type, Installer] = {}


def installs(kind: type) -> Callable[[Installer], Installer]:
    """Registers the function that turns interventions of type ``kind`` into edits."""

    def add(install: Installer) -> Installer:
        INSTALLERS[kind] = install
        return install

    return add


def add_intervention(edits: Edits, intervention, rows: Rows, position: int, clean: CleanMeans | None) -> None:
    """Adds one intervention's edits for ``rows``; ``position`` is the moment's position."""
    install = INSTALLERS.get(type(intervention))
    if install is None:
        raise ValueError(f"no hooks carry out a {type(intervention).__name__}")
    install(edits, intervention, rows, position, clean)


def around_forward(loaded, layout, interventions: Sequence, position: int, clean: CleanMeans | None):
    """A `model_zoo.seam.AroundForward` that applies ``interventions`` (to every row) in each forward."""

    def around(first: int):
        edits = Edits(loaded, layout, first)
        for intervention in interventions:
            add_intervention(edits, intervention, None, position, clean)
        return installed(edits)

    return around
