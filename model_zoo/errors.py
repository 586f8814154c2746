"""Errors the app shows as they are: each names what went wrong and what to do."""

from __future__ import annotations


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is written for the person who asked for it."""
