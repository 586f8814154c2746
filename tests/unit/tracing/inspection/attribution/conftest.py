"""One torch thread for these tests: on a small shared CPU, OpenMP threads waiting on each other's cores make
the gradient passes many times slower, and the numbers checked here do not depend on the thread count."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
