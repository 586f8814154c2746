"""The tuned lens (Belrose et al. 2023): one affine translator per layer, identity-initialised and trained so
that the residual stream before each layer, translated and decoded like the final one, matches the model's
own output distribution. `lens` (the translators, saved per model), `data` (text into chunks), `training`,
`report` (torch-free results) and `evaluate` (per-layer KL and top-1 agreement, logit lens against tuned)."""
