"""The Classify page for a masked LM: its one moment is the prediction at the masked token (top tokens, the
masked position's attention per layer and head, attributions of a top token, against the runner-up)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components.attention import head_grid_figure, head_strip
from components.attribution_view import attribution_strip
from components.plot_config import PLOT_CONFIG
from components.probabilities import probability_bars
from page_glue.classifier_glue import masked_attribution_for, masked_for
from tracing.encoders.results import ENCODER_METHOD_NAMES
from tracing.inspection.attention import head_summary
from tracing.inspection.attribution import get_method


def masked_panel(model_id: str, loaded, text: str) -> None:
    if loaded.tokenizer.mask_token not in text:
        st.info(f"A masked language model: put one {loaded.tokenizer.mask_token} in the text.")
        return
    try:
        prediction = masked_for(model_id, loaded, text)
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    probs = [float(p) for p in prediction.top_probs]
    st.markdown(f"**At the mask:** `{prediction.top_tokens[0]}` at {probs[0]:.1%}")
    colours = ["#ff4b4b"] + ["#8a8fa3"] * (len(probs) - 1)
    st.plotly_chart(probability_bars(prediction.top_tokens, probs, colours, [f"{p:.3f}" for p in probs]),
                    config=PLOT_CONFIG, key="mlm_top")  # fmt: skip
    rows = prediction.attention[:, :, prediction.position, :]
    layers, heads = rows.shape[:2]
    pick = st.columns(2)
    layer = pick[0].number_input("Layer", 0, layers - 1, value=layers - 1, key="mlm_layer")
    head = pick[1].number_input("Head", 0, heads - 1, value=0, key="mlm_head")
    summary = head_summary(rows, len(prediction.tokens), "entropy")
    st.caption(f"Each cell: one head's {summary.label}, from the masked token's row.")
    st.plotly_chart(head_grid_figure(summary, layer, head), config=PLOT_CONFIG, key="mlm_grid")
    specials = {i for i, t in enumerate(prediction.ids) if int(t) in set(loaded.tokenizer.all_special_ids)}
    head_strip(prediction.tokens, rows[layer, head].astype(np.float32), len(prediction.tokens), specials)
    method = st.selectbox("Attribution", ENCODER_METHOD_NAMES, format_func=lambda m: get_method(m).label,
                          key="mlm_method")  # fmt: skip
    token, runner_up = (int(i) for i in prediction.top_ids[:2])
    result = masked_attribution_for(model_id, loaded, text, token, method, runner_up)
    st.markdown(f"**Explained:** logit(`{prediction.top_tokens[0]}`) − logit(`{prediction.top_tokens[1]}`) "
                f"= {result.target_score:+.4f}" + ("" if result.delta is None else f" · completeness gap {result.delta:+.2e}"))  # fmt: skip
    attribution_strip(prediction.tokens, result.scores, specials, len(result.scores))
