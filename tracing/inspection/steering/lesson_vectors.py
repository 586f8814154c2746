"""A lesson carries steering vectors: copies in its gallery folder (``<lesson>/steering/``), made for the
lesson's model, and adopted into the data home's saved vectors when the lesson is opened, so the class finds
them by name in the steering controls."""

from __future__ import annotations

from pathlib import Path

from tracing.inspection.steering.vector import SteeringVector, read_vector_file, save_vector, steering_folder
from tracing.lessons.gallery import Gallery

FOLDER = "steering"


def _folder(gallery: Gallery, lesson_id: str) -> Path:
    folder = gallery.folder / gallery.check_id(lesson_id)
    if not folder.is_dir():
        raise ValueError(f"There is no lesson {lesson_id!r} in {gallery.folder}.")
    return folder / FOLDER


def carry_vector(gallery: Gallery, lesson_id: str, vector: SteeringVector) -> Path:
    """Keeps a copy of ``vector`` with the lesson; ValueError when it was made on another model."""
    base = gallery.load(lesson_id).trace.identity.base
    if vector.model_id and vector.model_id != base:
        raise ValueError(f"steering vector '{vector.name}' was made on '{vector.model_id}', but the lesson's "
                         f"trace is '{base}'s.")  # fmt: skip
    return save_vector(vector, _folder(gallery, lesson_id))


def carried_vectors(gallery: Gallery, lesson_id: str) -> list[SteeringVector]:
    folder = _folder(gallery, lesson_id)
    return [read_vector_file(path) for path in sorted(folder.glob("*.safetensors"))] if folder.is_dir() else []


def adopt_carried(gallery: Gallery, lesson_id: str, into: Path | None = None) -> list[str]:
    """Saves the lesson's vectors among the data home's (``into``), replacing same-named ones; their names."""
    vectors = carried_vectors(gallery, lesson_id)
    for vector in vectors:
        save_vector(vector, into if into is not None else steering_folder())
    return [vector.name for vector in vectors]
