"""The served app leaves a core to the web server and the browsers."""

from __future__ import annotations

import os

import pytest
import torch

from model_zoo.device import use_threads_beside_a_server


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_one_core_is_left_and_asking_twice_changes_nothing(threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    expected = max(1, (os.cpu_count() or 2) - 1)

    assert use_threads_beside_a_server() == expected == torch.get_num_threads()
    assert use_threads_beside_a_server() == expected


def test_an_explicit_omp_num_threads_is_kept(threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads))
    assert use_threads_beside_a_server() == threads
