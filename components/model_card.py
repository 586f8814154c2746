"""Drawing the model zoo: the catalog table and the facts about a loaded model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from model_zoo import ModelEntry

if TYPE_CHECKING:
    from model_zoo import LoadedModel


def catalog_table(entries: list[ModelEntry]) -> None:
    rows = [
        {
            "id": e.id,
            "kind": e.kind,
            "source": {
                "wheel-gguf": "offline (wheel, GGUF)",
                "wheel-hf": "offline (wheel)",
                "hub": "hub download",
                "adapter": f"adapter on {e.base}",
                "local": "local folder",
            }.get(e.source, e.source),
            "description": e.description,
        }
        for e in entries
    ]
    st.table(pd.DataFrame(rows).set_index("id"))


def model_facts(loaded: LoadedModel) -> None:
    cfg = loaded.model.config
    cols = st.columns(5)
    cols[0].metric("Layers", loaded.num_layers)
    cols[1].metric("Heads", loaded.num_heads)
    cols[2].metric("Parameters", f"{sum(p.numel() for p in loaded.model.parameters()) / 1e6:.0f} M")
    cols[3].metric("Context", f"{loaded.max_context:,}" if loaded.max_context else "n/a")
    cols[4].metric("Device", f"{loaded.device.type} · {str(loaded.dtype).removeprefix('torch.')}")
    st.caption(
        f"Architecture `{cfg.model_type}` · vocabulary {cfg.vocab_size:,} tokens · "
        f"{'chat template' if loaded.is_chat else 'no chat template'} · loaded in {loaded.load_seconds:.1f} s"
    )
