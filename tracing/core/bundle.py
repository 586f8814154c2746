"""One file for results made of several traces (a comparison, a branch tree, a consistency run).

A bundle is a zip archive: ``bundle.json`` (the result's own JSON, with its kind) and one trace file per
named trace (``<name>.safetensors``, the usual trace format), so each trace inside loads with load_trace.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

from tracing.core.trace import Trace, load_trace

META_NAME = "bundle.json"


def save_bundle(path: str | os.PathLike, kind: str, meta: dict, traces: dict[str, Trace]) -> Path:
    """Writes ``meta`` and ``traces`` to one zip file, atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(META_NAME, json.dumps({"kind": kind, **meta}, ensure_ascii=False))
            for name, trace in traces.items():
                archive.write(trace.save(Path(folder) / f"{name}.safetensors"), f"{name}.safetensors")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_bundle(path: str | os.PathLike, kind: str) -> tuple[dict, dict[str, Trace]]:
    """Reads a bundle of the given kind; raises ValueError when the file is not one."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a Momentscope {kind} file.") from exc
    with archive, tempfile.TemporaryDirectory() as folder:
        try:
            meta = json.loads(archive.read(META_NAME))
        except KeyError as exc:
            raise ValueError(f"{path} is not a Momentscope {kind} file.") from exc
        if meta.get("kind") != kind:
            raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a {kind}.")
        traces = {}
        for name in archive.namelist():
            if name.endswith(".safetensors"):
                traces[name.removesuffix(".safetensors")] = load_trace(archive.extract(name, folder))
    return meta, traces
