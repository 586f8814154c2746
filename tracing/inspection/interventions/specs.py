"""What an intervention does, as data: ablate a head, a layer's attention or an MLP, or knock out the attention
from the moment's position to some tokens. Torch-free: the page, the CLI, a branch's ``info`` and the result
types name interventions with these; the hooks that carry them out live in ``hooks.py`` and its installers.

Positions are absolute token positions of the sequence (prompt then generated). "The moment's position" is
the position whose logits choose the moment's token: ``prompt_len + moment - 1``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

COMPONENTS = ("head", "attention", "mlp")
METHODS = ("zero", "mean")
SCOPES = ("moment", "all")
SCOPE_WORDS = {"moment": "at the moment's position", "all": "at every position"}


@dataclass(frozen=True)
class Ablation:
    """Remove one head (``component="head"``), all heads of a layer (``"attention"``) or a layer's MLP.

    ``method``: "zero" writes zeros in place of the component's output; "mean" writes its mean output over
    the clean prefix (every position up to and including the moment's). ``scope``: "moment" ablates at the
    moment's position only (and, decoding on, at every later position), "all" at every position.
    The head's output is its slice of the output projection's input (``o_proj`` in Llama-style models).
    """

    component: str
    layer: int
    head: int | None = None
    method: str = "zero"
    scope: str = "moment"

    def __post_init__(self) -> None:
        if self.component not in COMPONENTS:
            raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, got {self.component!r}.")
        if self.method not in METHODS:
            raise ValueError(f"ablation must be 'zero' or 'mean', got {self.method!r}.")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be 'moment' or 'all', got {self.scope!r}.")
        if (self.component == "head") != (self.head is not None):
            raise ValueError("name a head exactly when ablating a head (component 'head').")

    @property
    def target(self) -> str:
        if self.component == "head":
            return f"head {self.layer}.{self.head}"
        return f"layer {self.layer} attention" if self.component == "attention" else f"MLP {self.layer}"

    @property
    def label(self) -> str:
        return f"{self.target} {self.method}-ablated {SCOPE_WORDS[self.scope]}"

    def check(self, num_layers: int, num_heads: int, prefix_len: int) -> None:
        """Raises ValueError naming a layer or head the model does not have."""
        if not 0 <= self.layer < num_layers:
            raise ValueError(f"layer {self.layer} is not a layer of this model (0 to {num_layers - 1}).")
        if self.head is not None and not 0 <= self.head < num_heads:
            raise ValueError(f"head {self.head} is not a head of this model (0 to {num_heads - 1}).")

    def to_dict(self) -> dict:
        return {"kind": "ablation"} | asdict(self)


@dataclass(frozen=True)
class Knockout:
    """The moment's position (and, decoding on, every later one) may not attend to the tokens at ``keys``,
    in ``layers`` (None: every layer). The blocked keys get the mask value a causal mask gives future tokens."""

    keys: tuple[int, ...]
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(sorted({int(k) for k in self.keys})))
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(sorted({int(layer) for layer in self.layers})))
        if not self.keys:
            raise ValueError("Pick at least one token to knock out.")
        if self.layers is not None and not self.layers:
            raise ValueError("Pick at least one layer for the knockout, or all layers.")

    @property
    def label(self) -> str:
        where = "every layer" if self.layers is None else "layers " + ", ".join(map(str, self.layers))
        keys = ", ".join(map(str, self.keys))
        return f"knockout of position{'s' if len(self.keys) > 1 else ''} {keys} in {where}"

    def check(self, num_layers: int, num_heads: int, prefix_len: int) -> None:
        """The keys must be positions the moment's position sees (0 to ``prefix_len - 1``), and not all of them
        (a query with nothing to attend to has no attention at all)."""
        if bad := [k for k in self.keys if not 0 <= k < prefix_len]:
            raise ValueError(f"position {bad[0]} is not before the moment (positions 0 to {prefix_len - 1}).")
        if len(self.keys) >= prefix_len:
            raise ValueError("A knockout must leave at least one token to attend to.")
        if self.layers is not None and (bad := [layer for layer in self.layers if not 0 <= layer < num_layers]):
            raise ValueError(f"layer {bad[0]} is not a layer of this model (0 to {num_layers - 1}).")

    def to_dict(self) -> dict:
        return {
            "kind": "knockout",
            "keys": list(self.keys),
            "layers": None if self.layers is None else list(self.layers),
        }


Intervention = Ablation | Knockout


def intervention_from_dict(data: dict) -> Intervention:
    """The inverse of ``to_dict`` (a branch's ``info["intervention"]["spec"]``)."""
    fields = {key: value for key, value in data.items() if key != "kind"}
    if data.get("kind") == "ablation":
        return Ablation(**fields)
    if data.get("kind") == "knockout":
        layers = fields.get("layers")
        return Knockout(tuple(fields["keys"]), None if layers is None else tuple(layers))
    raise ValueError(f"unknown intervention kind {data.get('kind')!r}")
