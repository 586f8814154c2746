"""Interventions at a moment: from where the model looked to what made it choose.

- `contributions`: the direct contribution of the embeddings, every head and every MLP to a logit;
- `intervene` with an `Ablation` (a head, a layer's attention, an MLP; zero or mean; at the moment's position
  or everywhere) or a `Knockout` (the moment may not attend to some tokens), and `ablation_sweep` (every
  head and MLP in turn);
- `patch_moment`: activation patching of the clean residual stream into an edited prompt's run;
- `commitment`: the logit-lens rank of every moment's token at every layer, from one pass;
- `continue_under`: decode on under an intervention, as a branch beside its parent.

Result types (`results.py`) and specs (`specs.py`) load without torch; the hooks (`hooks.py`) reach the model
through its `model_zoo.attention_layout.AttentionLayout`. Importing this package registers the hooks of each
kind of intervention.
"""

from tracing.inspection.interventions import knockout  # noqa: F401  (registers the knockout's hooks)
from tracing.inspection.interventions.ablation import ablation_sweep, intervene
from tracing.inspection.interventions.commitment import commitment
from tracing.inspection.interventions.continuation import continue_under, grow_under
from tracing.inspection.interventions.contributions import contributions
from tracing.inspection.interventions.patching import corrupted_prefix, patch_moment
from tracing.inspection.interventions.results import (
    AblationSweep,
    Commitment,
    Contributions,
    InterventionResult,
    Patching,
    from_json,
    to_json,
)
from tracing.inspection.interventions.specs import Ablation, Intervention, Knockout

__all__ = [
    "Ablation",
    "AblationSweep",
    "Commitment",
    "Contributions",
    "Intervention",
    "InterventionResult",
    "Knockout",
    "Patching",
    "ablation_sweep",
    "commitment",
    "continue_under",
    "contributions",
    "corrupted_prefix",
    "from_json",
    "grow_under",
    "intervene",
    "patch_moment",
    "to_json",
]
