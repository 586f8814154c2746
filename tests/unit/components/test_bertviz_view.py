"""The offline bertviz page: no CDN, our inline scripts, and a payload kept under its budget."""

from __future__ import annotations

import re

import numpy as np
import pytest

from components.bertviz_view import bertviz_page


def squares(layers: int, heads: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    raw = np.tril(rng.random((layers, heads, n, n))) + 1e-3 * np.eye(n)
    return (raw / raw.sum(-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("view", ["head", "model"])
def test_page_loads_nothing_from_the_network(view):
    page = bertviz_page(view, squares(2, 3, 6), [f"t{i}" for i in range(6)], [0, 1])
    assert "cdnjs" not in page.html
    assert not re.search(r"(src|href)=[\"']?https?:", page.html)
    assert "define('d3'" in page.html and "define('jquery'" in page.html
    assert page.layers == (0, 1) and page.decimals == 3 and not page.dropped_layers


def test_long_prefixes_drop_layers_to_stay_under_the_budget():
    n = 160
    budget = 1_500_000
    page = bertviz_page("head", squares(4, 9, n), [f"t{i}" for i in range(n)], [0, 1, 2, 3], budget_bytes=budget)
    assert page.nbytes <= budget
    assert page.decimals == 2 and page.dropped_layers and page.layers[0] == 0


def test_mismatched_tokens_are_refused():
    with pytest.raises(ValueError):
        bertviz_page("head", squares(1, 1, 4), ["a", "b"], [0])
