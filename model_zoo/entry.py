"""One loadable model as the catalog names it."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCES = ("wheel-gguf", "wheel-hf", "hub", "local", "adapter")


@dataclass(frozen=True)
class ModelEntry:
    """One loadable model. ``source`` picks the loader; the other fields are that loader's arguments."""

    id: str
    kind: str
    source: str
    description: str = ""
    repo: str = ""
    package: str = ""
    file: str = ""
    subfolder: str = ""
    path: str = ""
    base: str = ""
    default: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def needs_download(self) -> bool:
        return self.source == "hub"

    @property
    def label(self) -> str:
        """A short line for pickers: id plus a marker for models that need the network."""
        return f"{self.id}  (download)" if self.needs_download else self.id
