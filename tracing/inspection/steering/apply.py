"""Adding a steering vector to the residual stream: forward hooks on the output of chosen layers (found through
the family description), in place for one stream's forwards only, from an absolute position on.

`steered` is the context a forward runs in; `around_steering` makes the ``around`` of a KV-cache stream
(`model_zoo.seam.KVCacheSteps`): each of that stream's forwards runs with the hooks, installed under the
model's lock and removed before it is released, so no other session's forward ever sees them. Every row of
a batch may carry its own strength (a sweep runs its strengths as the rows of one forward).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from tracing.inspection.steering.make import layer_output, steering_layout
from tracing.inspection.steering.vector import SteeringVector

STARTS = ("moment", "prompt")  # from the moment's position on, or at every position, the prompt's too


@dataclass
class Steering:
    """``vector`` times ``strength`` added to the output of each layer of ``layers`` (default: the layer it
    was read at), from the moment on (``start="moment"``) or at the prompt's positions too (``"prompt"``)."""

    vector: SteeringVector
    strength: float
    layers: tuple[int, ...] = field(default=())
    start: str = "moment"

    def __post_init__(self) -> None:
        self.layers = tuple(int(x) for x in self.layers) or (int(self.vector.layer),)
        if self.start not in STARTS:
            raise ValueError(f"start must be one of {', '.join(STARTS)}, got {self.start!r}.")
        if not isinstance(self.strength, int | float) or self.strength != self.strength:
            raise ValueError(f"strength must be a number, got {self.strength!r}.")
        self.strength = float(self.strength)

    @property
    def label(self) -> str:
        where = ", ".join(str(x) for x in self.layers)
        prompt = ", prompt too" if self.start == "prompt" else ""
        return f"steered: '{self.vector.name}' × {self.strength:g} at layer {where}{prompt}"

    def to_dict(self) -> dict:
        return {"kind": "steering", "vector": self.vector.describe(), "strength": self.strength,
                "layers": list(self.layers), "start": self.start}  # fmt: skip

    def check(self, loaded) -> None:
        """ValueError for a vector of another model, or a layer the model does not have."""
        layout = steering_layout(loaded)
        self.vector.check_for(loaded.identity.base, layout.hidden_size)
        for layer in self.layers:
            layout.check_layer(layer)


@contextmanager
def steered(loaded, steering: Steering, first: int, start: int, strengths: Sequence[float] | None = None) -> Iterator:
    """Hooks adding ``strength * vector`` to the chosen layers' outputs at absolute positions ``start`` on,
    for forwards whose first token is at absolute position ``first``; ``strengths`` gives each batch row its
    own (default: every row ``steering.strength``). Holds the model's lock while the hooks are in place."""
    layout = steering_layout(loaded)
    layers = layout.layers(loaded.base_model)
    at = max(int(start) - int(first), 0)

    def add(_module, _args, output):
        hidden = layer_output(output)
        if at >= hidden.shape[1]:
            return output
        scale = torch.tensor(
            [steering.strength] if strengths is None else list(strengths), dtype=hidden.dtype, device=hidden.device
        )
        direction = torch.as_tensor(steering.vector.vector, dtype=hidden.dtype, device=hidden.device)
        changed = hidden.clone()
        changed[:, at:] += scale[:, None, None] * direction
        return (changed, *output[1:]) if isinstance(output, tuple) else changed

    with loaded.lock:
        handles = [layers[layer].register_forward_hook(add) for layer in steering.layers]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def around_steering(loaded, steering: Steering, start: int):
    """The ``around`` of a KV-cache stream steered from absolute position ``start`` on."""
    steering.check(loaded)
    return lambda first: steered(loaded, steering, first, start)


def steering_start(steering: Steering, prefix_len: int) -> int:
    """The first steered position: the one predicting the moment (the prefix's last), or 0 for the prompt too."""
    return 0 if steering.start == "prompt" else max(prefix_len - 1, 0)
