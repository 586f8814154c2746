"""Drawing fine-tune data and outputs: problems found in a file, a preview, token statistics, sample generations."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from datafiles.rows import Problem
from finetune.encoding import LengthStats

PREVIEW_ROWS = 20


def problem_list(problems: list[Problem], *, limit: int = 50) -> None:
    st.error(f"{len(problems)} problem(s) in the data; fix them and upload again.", icon=":material/error:")
    text = "\n".join(f"- {p}" for p in problems[:limit])
    if len(problems) > limit:
        text += f"\n- … and {len(problems) - limit} more"
    st.markdown(text)


def preview_table(rows: list[dict]) -> None:
    frame = pd.DataFrame([{k: str(v) for k, v in row.items()} for row in rows[:PREVIEW_ROWS]])
    st.dataframe(frame, hide_index=True, width="stretch")
    if len(rows) > PREVIEW_ROWS:
        st.caption(f"First {PREVIEW_ROWS} of {len(rows)} rows.")


def length_metrics(stats: LengthStats, max_length: int) -> None:
    cols = st.columns(5)
    cols[0].metric("Examples", stats.count)
    cols[1].metric("Median tokens", f"{stats.median:.0f}")
    cols[2].metric("95th percentile", stats.p95)
    cols[3].metric("Longest", stats.max)
    cols[4].metric(f"Over {max_length}", stats.over_max_length)
    if stats.over_max_length:
        st.warning(f"{stats.over_max_length} example(s) are longer than the max length and will be cut.")


def sample_generations(samples: list[dict]) -> None:
    """The latest generation for each validation prompt, with what it should have said."""
    if not samples:
        st.caption("Sample generations appear at the first evaluation.")
        return
    last_step = max(s["step"] for s in samples)
    latest = [s for s in samples if s["step"] == last_step]
    st.caption(f"Greedy generations on validation prompts at step {last_step}.")
    frame = pd.DataFrame(
        [{"prompt": s["prompt"], "generated": s["output"], "expected": s["reference"]} for s in latest]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
