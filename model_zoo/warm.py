"""Getting models ready before the first user asks: `python -m model_zoo warm [MODEL ...]`.

A fresh install converts the offline model's GGUF weights on its first load (and a hub model downloads): about
20-40 s on a 2-core machine, which the first session waits through while the others share its progress. A
teacher can pay that before class instead: this loads each model once (converting or downloading it into the data
home) and reports how long it took, so the server's first load only reads the ready copy.
"""

from __future__ import annotations

import sys
import time

from model_zoo.catalog import default_entry, load_catalog, resolve
from model_zoo.errors import ModelLoadError
from model_zoo.gguf_cache import needs_conversion


def warm(model_ids: list[str], out=sys.stderr) -> list[dict]:
    """Loads each model once (converting or downloading what it needs); one result per model:
    ``{"model", "converted", "seconds"}`` or ``{"model", "error"}``."""
    from model_zoo.loading import load_model

    results = []
    for model_id in model_ids or [default_entry(load_catalog()).id]:
        started = time.perf_counter()
        try:
            entry = resolve(model_id)
            converting = needs_conversion(entry)
            load_model(
                entry, device="cpu", progress=lambda fraction, message: print(f"{fraction:4.0%} {message}", file=out)
            )
        except ModelLoadError as exc:
            results.append({"model": model_id, "error": str(exc)})
            continue
        results.append({"model": entry.id, "converted": converting, "seconds": round(time.perf_counter() - started, 1)})
    return results
