"""A faster CPU product for the few rows of a batched decode step.

A decode step of a few streams multiplies each weight by 2-6 rows. On some CPUs (measured on this project's
AMD EPYC machines) MKL's float32 kernel for ``x @ Wᵀ`` with so few rows runs at a fraction of its speed for
one row or for many: the lm_head of the offline model takes 13 ms for 4 rows through ``F.linear`` and 5.4 ms
as ``(W @ xᵀ)ᵀ``, the same product in the order MKL computes fast (a tall, skinny right-hand side), and a
whole 4-row pass of the model 70 ms against 42 ms for one row. `use_few_rows_linears` measures both orders on
the model's largest linear layer at load and, only where the second is clearly faster, has every
``nn.Linear`` use it for 2-6 rows; other row counts, devices and dtypes keep ``F.linear``. The results are
the same product up to float rounding (tested against ``F.linear``, values and gradients).
"""

from __future__ import annotations

import time

import torch

FEW_ROWS = range(2, 7)  # where the tall-skinny order won (2-5 rows by 1.5-2.3x, 6 by 1.1x; 8 rows it lost)
PROBE_ROWS = 4
MIN_GAIN = 1.3  # the probe must show at least this speed-up, so timing noise does not switch kernels
_PROBED: dict[tuple[int, int], bool] = {}  # a weight shape's answer, probed once per process


class FewRowsLinear(torch.nn.Linear):
    """``nn.Linear`` computing 2-6 float32 CPU rows as ``(W @ xᵀ)ᵀ`` (an instance's class is swapped in place:
    its weights, hooks and state dict stay as they are)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features if self.in_features else 0
        if rows in FEW_ROWS and x.device.type == "cpu" and x.dtype == self.weight.dtype == torch.float32:
            # row-major in and out: MKL's fast path needs xᵀ transposed in memory (a row-major x), and the
            # next layer's input is this output (a column-major one made down_proj 4x slower)
            flat = x.reshape(rows, self.in_features).contiguous()
            out = (self.weight @ flat.T).T.contiguous()
            if self.bias is not None:
                out = out + self.bias
            return out.reshape(*x.shape[:-1], self.out_features)
        return super().forward(x)


def _seconds(product, repeats: int = 3) -> float:
    product()  # warm
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - started)
    return best


def few_rows_order_is_faster(weight: torch.Tensor) -> bool:
    """Whether ``(W @ xᵀ)ᵀ`` beats ``F.linear`` by `MIN_GAIN` for `PROBE_ROWS` rows of ``weight`` here (probed
    the first time a shape is asked about: later loads of the model keep that answer and skip the probe)."""
    shape = tuple(weight.shape)
    if shape not in _PROBED:
        x = torch.randn(PROBE_ROWS, shape[1], dtype=weight.dtype)
        with torch.inference_mode():
            linear = _seconds(lambda: torch.nn.functional.linear(x, weight))
            skinny = _seconds(lambda: weight @ x.T)
        _PROBED[shape] = linear > MIN_GAIN * skinny
    return _PROBED[shape]


def use_few_rows_linears(model: torch.nn.Module) -> bool:
    """Gives every plain ``nn.Linear`` of a float32 CPU ``model`` the few-rows order, if it is faster on this
    CPU (probed on the largest). Returns whether it did."""
    linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
    if not linears or any(m.weight.device.type != "cpu" or m.weight.dtype != torch.float32 for m in linears):
        return False
    largest = max(linears, key=lambda m: m.weight.numel())
    if not few_rows_order_is_faster(largest.weight.detach()):
        return False
    for module in linears:
        module.__class__ = FewRowsLinear
    return True
