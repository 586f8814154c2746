"""The few-rows order of a linear layer (model_zoo/few_rows.py) computes what ``F.linear`` computes, values and
gradients, at every row count and input shape, and is given to a CPU float32 model only where it is faster."""

from __future__ import annotations

import copy

import pytest
import torch

from model_zoo import few_rows
from model_zoo.few_rows import FEW_ROWS, FewRowsLinear, use_few_rows_linears


def swapped(layer: torch.nn.Linear) -> torch.nn.Linear:
    other = copy.deepcopy(layer)
    other.__class__ = FewRowsLinear
    return other


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1,), (3,), (4,), (6,), (8,), (2, 1), (4, 1), (1, 5), (2, 3), (3, 1, 2)])
def test_values_and_gradients_equal_f_linear(shape, bias):
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 200, bias=bias)
    other = swapped(layer)
    x = torch.randn(*shape, 96, requires_grad=True)
    x_other = x.detach().clone().requires_grad_(True)
    want, got = layer(x), other(x_other)
    assert got.shape == want.shape and got.is_contiguous()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    want.square().sum().backward()
    got.square().sum().backward()
    torch.testing.assert_close(x_other.grad, x.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(other.weight.grad, layer.weight.grad, rtol=1e-4, atol=1e-4)


def test_a_column_major_input_gives_a_row_major_output():
    """A transposed (column-major) input, as an elementwise op on two such outputs makes, still computes right."""
    layer = torch.nn.Linear(64, 32)
    x = torch.randn(64, 4).T  # [4, 64], strides (1, 4)
    torch.testing.assert_close(swapped(layer)(x), layer(x), rtol=1e-5, atol=1e-5)


def test_other_dtypes_keep_f_linear(monkeypatch):
    layer = swapped(torch.nn.Linear(16, 8).to(torch.bfloat16))
    calls = []
    real = torch.nn.functional.linear
    monkeypatch.setattr(torch.nn.functional, "linear", lambda *a, **k: calls.append(1) or real(*a, **k))
    layer(torch.randn(4, 16, dtype=torch.bfloat16))
    assert calls == [1] and 4 in FEW_ROWS


def test_the_model_gets_it_only_where_the_probe_finds_it_faster(monkeypatch):
    def model():
        return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))

    monkeypatch.setattr(few_rows, "few_rows_order_is_faster", lambda weight: False)
    slower = model()
    assert not use_few_rows_linears(slower) and type(slower[0]) is torch.nn.Linear
    monkeypatch.setattr(few_rows, "few_rows_order_is_faster", lambda weight: True)
    faster = model()
    state = {k: v.clone() for k, v in faster.state_dict().items()}
    assert use_few_rows_linears(faster)
    assert all(type(m) is FewRowsLinear for m in (faster[0], faster[2]))
    assert all(torch.equal(v, faster.state_dict()[k]) for k, v in state.items())  # the weights are untouched
    assert not use_few_rows_linears(model().to(torch.float64))  # float32 CPU models only


def test_the_offline_model_decodes_the_same_with_either_order(smollm):
    """A 4-row step of the loaded model with every linear in the few-rows order against ``F.linear``."""
    ids = torch.tensor([smollm.tokenizer(word)["input_ids"][:1] for word in ["月亮", "太阳", "星星", "银河"]])
    logits = {}
    for kind in (FewRowsLinear, torch.nn.Linear):
        model = copy.deepcopy(smollm.model)
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.__class__ = kind
        with torch.inference_mode():
            logits[kind] = model(input_ids=ids).logits
    torch.testing.assert_close(logits[FewRowsLinear], logits[torch.nn.Linear], rtol=1e-4, atol=1e-4)
    assert smollm.few_rows == any(type(m) is FewRowsLinear for m in smollm.model.modules())
