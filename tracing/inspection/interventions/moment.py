"""A moment read once, clean, for the interventions at it: the KV cache of every position before the moment's,
the moment's own position's logits and the activations there, and the means mean ablation writes.

The moment's position (``len(prefix) - 1``) is read in a pass of its own on top of the cache, so each
intervention that acts only there recomputes that one position (`run_variants`), never the prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model_zoo.layout import ModelLayout
from tracing.core.trace import Trace
from tracing.inspection.interventions.hooks import CleanMeans, Edits, add_intervention, installed

TOKENS_PER_PASS = 4096


@dataclass
class MomentRead:
    """The clean read of ``prefix``, whose last position is the moment's (it predicts the moment's token)."""

    prefix: list[int]
    cache: object  # transformers DynamicCache over prefix[:-1] (empty when the prefix is one token)
    logits: torch.Tensor  # float32 [vocab], the moment's position, on the model's device
    means: CleanMeans
    head_inputs: torch.Tensor  # [layers, heads * head_dim] at the moment's position
    mlp_outputs: torch.Tensor  # [layers, hidden] at the moment's position
    embedding: torch.Tensor  # [hidden]: the first layer's input (embeddings, scaled, positions added)
    final_residual: torch.Tensor  # [hidden]: the final norm's input at the moment's position
    head_logits: torch.Tensor  # float32 [vocab]: the LM head's output, before the logit post-processing
    out_norm_inputs: dict[str, torch.Tensor]  # "attention"/"mlp" -> [layers, hidden]: post-norms' inputs

    @property
    def position(self) -> int:
        return len(self.prefix) - 1


def layout_of(loaded) -> ModelLayout:
    """The loaded model's layout, or ValueError saying why interventions are unavailable on it."""
    layout = loaded.layout
    if layout is None:
        raise ValueError(loaded.layout_problem)
    return layout


def moment_prefix(loaded, trace: Trace, moment_index: int, doing: str = "intervene on") -> list[int]:
    """The ids the model read when it chose moment ``moment_index``'s token; checks the moment and the model."""
    if not isinstance(moment_index, int) or not 0 <= moment_index < len(trace.moments):
        raise ValueError(
            f"moment {moment_index} is not in this trace (moments 0 to {len(trace.moments) - 1})."
            if trace.moments
            else "This trace has no moments."
        )
    loaded.identity.check_made(trace.identity, doing)
    return trace.all_ids[: trace.prompt_len + moment_index]


def _keep_input(into: list):
    def pre(_module, args, kwargs):
        into.append((args[0] if args else kwargs["hidden_states"])[0].float())

    return pre


def _capture(loaded, layout: ModelLayout, into: dict[str, list]) -> Edits:
    """Hooks that record each layer's head outputs, MLP output and post-norm inputs, the first layer's input,
    the final residual and the LM head's output."""
    edits = Edits(loaded, layout)
    model = loaded.base_model
    for layer in range(layout.num_layers):

        def head_inputs(_module, args, layer=layer):
            into["heads"][layer].append(args[0][0].float())

        def mlp_output(_module, args, output, layer=layer):  # batch of one; OPT flattens it away
            into["mlps"][layer].append((output[0] if output.dim() == 3 else output).float())

        edits.hooks.append((layout.output_projection(model, layer), "pre", head_inputs))
        edits.hooks.append((layout.mlp(model, layer), "post", mlp_output))
        for kind, norm in zip(("attention", "mlp"), layout.out_norms(model, layer), strict=True):
            if norm is not None:
                edits.hooks.append((norm, "pre-kwargs", _keep_input(into[kind][layer])))
    edits.hooks.append((layout.layers(model)[0], "pre-kwargs", _keep_input(into["embedding"])))
    edits.hooks.append((layout.final_norm(model), "pre-kwargs", _keep_input(into["final"])))
    head = model.get_output_embeddings()
    edits.hooks.append((head, "post", lambda _m, _a, output: into["head"].append(output[0, -1].float())))
    return edits


def read_moment(loaded, prefix: Sequence[int]) -> MomentRead:
    """Reads ``prefix`` clean: a pass over all but its last position filling the cache, then the last."""
    from transformers import DynamicCache

    layout = layout_of(loaded)
    prefix = [int(i) for i in prefix]
    if not prefix:
        raise ValueError("A moment needs at least one token before it.")
    into: dict[str, list] = {
        "heads": [[] for _ in range(layout.num_layers)],
        "mlps": [[] for _ in range(layout.num_layers)],
        "embedding": [],
        "final": [],
        "head": [],
        "attention": [[] for _ in range(layout.num_layers)],
        "mlp": [[] for _ in range(layout.num_layers)],
    }
    cache = DynamicCache(config=loaded.model.config)
    ids = torch.tensor([prefix], dtype=torch.long, device=loaded.device)
    with installed(_capture(loaded, layout, into)):
        if len(prefix) > 1:
            loaded.forward(ids[:, :-1], cache=cache, keep=1)
        out = loaded.forward(ids[:, -1:], cache=cache, keep=1)
        cache.crop(-1)  # back to the positions before the moment's, for every variant to start from
    heads = [torch.cat(chunks) for chunks in into["heads"]]  # per layer [positions, heads * head_dim]
    mlps = [torch.cat(chunks) for chunks in into["mlps"]]
    return MomentRead(
        prefix=prefix,
        cache=cache,
        logits=out.logits[0, -1].float(),
        means=CleanMeans(torch.stack([h.mean(0) for h in heads]), torch.stack([m.mean(0) for m in mlps])),
        head_inputs=torch.stack([h[-1] for h in heads]),
        mlp_outputs=torch.stack([m[-1] for m in mlps]),
        embedding=into["embedding"][-1][-1],
        final_residual=into["final"][-1][-1],
        head_logits=into["head"][-1],
        out_norm_inputs={
            kind: torch.stack([x[-1][-1] for x in into[kind]]) for kind in ("attention", "mlp") if into[kind][0]
        },  # fmt: skip
    )


def repeated_cache(loaded, cache, rows: int):
    """A copy of ``cache`` with ``rows`` identical batch rows (each variant of a sweep reads its own row)."""
    from transformers import DynamicCache

    copy = DynamicCache(config=loaded.model.config)
    for index, layer in enumerate(cache.layers):
        if getattr(layer, "is_initialized", False) and layer.keys is not None and layer.keys.numel():
            keys = layer.keys.expand(rows, *layer.keys.shape[1:]).contiguous()
            values = layer.values.expand(rows, *layer.values.shape[1:]).contiguous()
            copy.update(keys, values, index)
    return copy


def rows_per_pass(loaded, prefix_len: int, budget_bytes: int = 512 * 2**20, most: int = 32) -> int:
    """How many variants one forward carries: at most ``most``, and their cache copies within ``budget_bytes``."""
    layout = layout_of(loaded)
    element = torch.finfo(loaded.dtype).bits // 8
    per_row = 2 * layout.num_layers * layout.num_kv_heads * layout.head_dim * max(prefix_len, 1) * element
    return max(1, min(most, budget_bytes // per_row))


def acts_everywhere(interventions: Sequence) -> bool:
    """Whether any of the interventions acts at positions before the moment's (an ablation of scope "all")."""
    return any(getattr(intervention, "scope", "moment") == "all" for intervention in interventions)


def run_variants(loaded, read: MomentRead, variants: Sequence[Sequence], most_rows: int = 32) -> torch.Tensor:
    """float32 log-probabilities ``[variants, vocab]`` at the moment's position, variant i with its interventions
    applied. Variants acting only at the moment's position recompute that position alone, on copies of the
    cache, up to ``most_rows`` variants as the rows of one forward; a variant acting at every position
    recomputes the prefix. The variants of one forward are all this call's: nothing else shares its hooks."""
    layout = layout_of(loaded)
    position = read.position
    everywhere = acts_everywhere([i for variant in variants for i in variant])
    ids = torch.tensor([read.prefix], dtype=torch.long, device=loaded.device)
    chunk = rows_per_pass(loaded, len(read.prefix), most=most_rows)
    if everywhere:  # each row is a whole prefix: keep a pass near TOKENS_PER_PASS tokens
        chunk = max(1, min(chunk, TOKENS_PER_PASS // len(read.prefix)))
    out = []
    with torch.inference_mode():
        for start in range(0, len(variants), chunk):
            group = variants[start : start + chunk]
            edits = Edits(loaded, layout, 0 if everywhere else position)
            for row, interventions in enumerate(group):
                for intervention in interventions:
                    add_intervention(edits, intervention, [row], position, read.means)
            with installed(edits):
                if everywhere:
                    logits = loaded.forward(ids.expand(len(group), -1), keep=1).logits
                else:
                    cache = repeated_cache(loaded, read.cache, len(group))
                    logits = loaded.forward(ids[:, -1:].expand(len(group), -1), cache=cache, keep=1).logits
            out.append(torch.log_softmax(logits[:, -1].float(), dim=-1))
    return torch.cat(out)
