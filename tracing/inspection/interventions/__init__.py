"""Interventions at a moment: from where the model looked to what made it choose.

- `contributions`: the direct contribution of the embeddings, every head and every MLP to a logit;
- `intervene` with an `Ablation` (a head, a layer's attention, an MLP; zero or mean; at the moment's position
  or everywhere) or a `Knockout` (the moment may not attend to some tokens), and `ablation_sweep` (every
  head and MLP in turn);
- `patch_moment`: activation patching of the clean residual stream into an edited prompt's run;
- `commitment`: the logit-lens rank of every moment's token at every layer, from one pass;
- `continue_under`: decode on under an intervention, as a branch beside its parent.

Result types (`results.py`) and specs (`specs.py`) load without torch; the hooks (`hooks.py`) reach the model
through its family description bound to it (`model_zoo.layout.ModelLayout`). The functions load (with torch) on first use, so
the result types and specs import without torch.
"""

_LAZY = {
    "ablation_sweep": "ablation",
    "intervene": "ablation",
    "commitment": "commitment_map",
    "continue_under": "continuation",
    "grow_under": "continuation",
    "contributions": "contribution",
    "corrupted_prefix": "patching",
    "patch_moment": "patching",
    "AblationSweep": "results",
    "Commitment": "results",
    "Contributions": "results",
    "InterventionResult": "results",
    "Patching": "results",
    "from_json": "results",
    "to_json": "results",
    "Ablation": "specs",
    "Intervention": "specs",
    "Knockout": "specs",
    "intervention_from_dict": "specs",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
