"""Which models exist and how to load them. Never imports streamlit.

The catalog and `ModelIdentity` load without torch; the loader (`load_model`, `LoadedModel`) imports it on
first use, so result types that name a model stay importable where torch is not.
"""

from model_zoo.catalog import default_entry, load_catalog, resolve
from model_zoo.entry import ModelEntry
from model_zoo.errors import ModelLoadError
from model_zoo.identity import ModelIdentity

_LAZY = {"LoadedModel": "model_zoo.loading", "load_model": "model_zoo.loading"}

__all__ = [
    "LoadedModel",
    "ModelEntry",
    "ModelIdentity",
    "ModelLoadError",
    "default_entry",
    "load_catalog",
    "load_model",
    "resolve",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'model_zoo' has no attribute {name!r}")
