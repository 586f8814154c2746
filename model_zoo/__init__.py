"""Which models exist and how to load them. Never imports streamlit."""

from model_zoo.catalog import ModelEntry, default_entry, load_catalog, resolve
from model_zoo.errors import ModelLoadError
from model_zoo.loading import LoadedModel, load_model

__all__ = ["LoadedModel", "ModelEntry", "ModelLoadError", "default_entry", "load_catalog", "load_model", "resolve"]
