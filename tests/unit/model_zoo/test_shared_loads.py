"""One load per model id per process, whoever asks: sessions asking while it runs share its progress and its
model; a failure reaches each of them as one message and the next request tries again."""

from __future__ import annotations

import threading

import pytest
import torch

from model_zoo import ModelLoadError, load_model
from model_zoo.shared_loads import SharedModels
from tests.conftest import OFFLINE_CHAT_MODEL


class GatedLoader:
    """A loader that reports progress, then waits for the test to let it finish (or fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.reported = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, model_id: str, progress):
        self.calls.append(model_id)
        progress(0.4, f"converting {model_id}")
        self.reported.set()
        assert self.release.wait(10)
        if self.fail:
            raise ModelLoadError(f"'{model_id}' is not in the local cache and the model hub cannot be reached.")
        return object()


def test_requests_during_a_load_share_its_progress_and_its_model():
    loader = GatedLoader()
    models = SharedModels(loader)
    first = models.request("m")
    assert loader.reported.wait(10)
    second = models.request("m")  # another session, while the first load runs

    assert second is first
    assert (second.fraction, second.message, second.done) == (0.4, "converting m", False)
    assert models.loading() == ["m"]
    loader.release.set()
    assert first.result() is second.result() is not None
    assert models.request("m").result() is first.model
    assert loader.calls == ["m"]
    assert models.loading() == [] and models.loaded() == ["m"]


def test_a_failure_reaches_every_waiting_session_and_a_later_request_tries_again():
    loader = GatedLoader(fail=True)
    models = SharedModels(loader)
    asked = [models.request("hub/gone") for _ in range(3)]
    loader.release.set()
    for job in asked:
        with pytest.raises(ModelLoadError, match="cannot be reached"):
            job.result()
    assert models.loaded() == [] and models.loading() == []

    loader.fail = False
    retry = models.request("hub/gone")
    assert retry is not asked[0]
    assert retry.result() is not None
    assert loader.calls == ["hub/gone", "hub/gone"]


def test_a_loader_bug_is_one_readable_message():
    def broken(model_id, progress):
        raise KeyError("rope_theta")

    with pytest.raises(ModelLoadError, match="Could not load 'x' \\(KeyError\\)"):
        SharedModels(broken).get("x")


def test_the_least_recently_asked_model_is_released_beyond_the_kept_count():
    released = []
    models = SharedModels(lambda model_id, progress: f"model {model_id}", keep=2, released=released.append)
    for model_id in ["a", "b", "a", "c"]:
        models.get(model_id)
    assert models.loaded() == ["a", "c"]
    assert released == ["model b"]
    models.clear()
    assert models.loaded() == [] and sorted(released) == ["model a", "model b", "model c"]


def test_two_threads_asking_for_the_offline_model_at_once_load_it_once():
    loads = []

    def counted(model_id, progress):
        loads.append(model_id)
        return load_model(model_id, device="cpu", progress=progress)

    models = SharedModels(counted)
    got = [None, None]
    start = threading.Barrier(2)

    def session(i: int) -> None:
        start.wait()
        got[i] = models.get(OFFLINE_CHAT_MODEL)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert loads == [OFFLINE_CHAT_MODEL]
    assert got[0] is got[1]
    reference = load_model(OFFLINE_CHAT_MODEL, device="cpu")
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.inference_mode():
        torch.testing.assert_close(got[0].model(input_ids=ids).logits, reference.model(input_ids=ids).logits)
