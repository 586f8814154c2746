"""Attributions: which earlier tokens made the model choose a moment's token, by several methods.

Methods register by name (``registry.py``); importing this package registers the built-in ones. One moment
(``attribute_moment``) and all moments (``attribute_trace``) share one code path that computes every
target in the same passes over the model.
"""

from tracing.inspection.attribution import (  # noqa: F401  (each module registers its method)
    attention_rollout,
    feature_ablation,
    input_x_gradient,
    integrated_gradients,
    saliency,
)
from tracing.inspection.attribution.api import (
    DEFAULT_METHOD,
    attribute_moment,
    attribute_position,
    attribute_positions,
    attribute_trace,
    contrast_choices,
)
from tracing.inspection.attribution.registry import AttributionMethod, get_method, method_names, methods_for, register
from tracing.inspection.attribution.results import PREFIX, PROMPT, Attribution, AttributionMatrix, AttributionSettings

__all__ = [
    "DEFAULT_METHOD",
    "PREFIX",
    "PROMPT",
    "Attribution",
    "AttributionMatrix",
    "AttributionMethod",
    "AttributionSettings",
    "attribute_moment",
    "attribute_position",
    "attribute_positions",
    "attribute_trace",
    "contrast_choices",
    "get_method",
    "method_names",
    "methods_for",
    "register",
]
