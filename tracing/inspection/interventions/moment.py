"""A moment read once, clean, for the interventions at it: the KV cache of every position before the moment's,
the moment's own position's logits and the activations there, and the means mean ablation writes.

The moment's position (``len(prefix) - 1``) is read in a pass of its own on top of the cache, so each
intervention that acts only there recomputes that one position (`run_variants`), never the prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model_zoo.attention_layout import AttentionLayout, missing_layout_reason
from model_zoo.seam import logits_to_keep
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
    embedding: torch.Tensor  # [hidden] at the moment's position
    final_residual: torch.Tensor  # [hidden]: the final norm's input at the moment's position

    @property
    def position(self) -> int:
        return len(self.prefix) - 1


def layout_of(loaded) -> AttentionLayout:
    """The loaded model's layout, or ValueError saying why interventions are unavailable on it."""
    layout = loaded.attention_layout
    if layout is None:
        raise ValueError(missing_layout_reason(loaded.architecture))
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


def _capture(loaded, layout: AttentionLayout, into: dict[str, list]) -> Edits:
    """Hooks that record each layer's head outputs and MLP output, the embeddings and the final residual."""
    edits = Edits(loaded, layout)
    model = loaded.base_model
    for layer in range(layout.num_layers):

        def head_inputs(_module, args, layer=layer):
            into["heads"][layer].append(args[0][0].float())

        def mlp_output(_module, args, output, layer=layer):
            into["mlps"][layer].append(output[0].float())

        edits.hooks.append((layout.output_projection(model, layer), "pre", head_inputs))
        edits.hooks.append((layout.mlp(model, layer), "post", mlp_output))
    embed = model.get_input_embeddings()
    edits.hooks.append((embed, "post", lambda _m, _a, output: into["embedding"].append(output[0].float())))
    norm = layout.final_norm(model)
    edits.hooks.append((norm, "pre", lambda _m, args: into["final"].append(args[0][0].float())))
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
    }
    cache = DynamicCache(config=loaded.model.config)
    ids = torch.tensor([prefix], dtype=torch.long, device=loaded.device)
    with torch.inference_mode(), installed(_capture(loaded, layout, into)):
        if len(prefix) > 1:
            loaded.model(
                input_ids=ids[:, :-1], past_key_values=cache, use_cache=True, **logits_to_keep(loaded.model, 1)
            )
        out = loaded.model(
            input_ids=ids[:, -1:], past_key_values=cache, use_cache=True, **logits_to_keep(loaded.model, 1)
        )
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
    keep = logits_to_keep(loaded.model, 1)
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
                    logits = loaded.model(input_ids=ids.expand(len(group), -1), use_cache=False, **keep).logits
                else:
                    cache = repeated_cache(loaded, read.cache, len(group))
                    inputs = ids[:, -1:].expand(len(group), -1)
                    logits = loaded.model(input_ids=inputs, past_key_values=cache, use_cache=True, **keep).logits
            out.append(torch.log_softmax(logits[:, -1].float(), dim=-1))
    return torch.cat(out)
