"""The tuned lens: an untrained (identity) lens reads exactly as the logit lens, on the offline model and tiny
random models; training lowers the held-out KL to the model's output at every layer but the last (where both
lenses are the output itself); a saved lens is found again for its model and refused for another; the job
stops with a checkpoint and resumes from it; `lens eval --json` prints the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jobs.store import JobStore
from tests.tiny_decoders import CONFIGS, save_tiny_decoder, with_layers
from tests.unit.tracing.conftest import run_cli
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.experiments.tuned_lens_job import (
    CHECKPOINT_FILE,
    LensJobConfig,
    LensStopped,
    record_lens_job,
    run_lens_job,
)
from tracing.inspection.logit_lens import logit_lens
from tracing.inspection.tuned_lens.data import split_heldout, token_chunks
from tracing.inspection.tuned_lens.evaluate import lens_report
from tracing.inspection.tuned_lens.lens import find_lens, lens_folder, new_lens, read_lens, save_lens
from tracing.inspection.tuned_lens.training import lens_optimizer, train_lens

pytestmark = pytest.mark.slow
LENS_FAMILIES = ("llama", "gpt2")  # RMSNorm and LayerNorm
TEXT = (
    "The tuned lens reads what each layer of a transformer would predict. A logit lens decodes every layer with "
    "the final norm and the unembedding; a tuned lens first translates the residual stream with one affine map "
    "per layer, trained to match the model's own output. Early layers are read badly by the logit lens. "
) * 12


def tiny_folder(smollm, family: str, folder) -> str:
    return save_tiny_decoder(family, with_layers(CONFIGS[family], 3), smollm.tokenizer, folder, seed=5)


@pytest.fixture(scope="module")
def tiny_models(smollm, tmp_path_factory) -> dict:
    from model_zoo import load_model

    root = tmp_path_factory.mktemp("lens_models")
    return {family: load_model(tiny_folder(smollm, family, root / family), device="cpu") for family in LENS_FAMILIES}


@pytest.mark.parametrize("which", ["offline", "llama", "gpt2"])
def test_an_identity_lens_reads_exactly_as_the_logit_lens(which, smollm, tiny_models):
    loaded = smollm if which == "offline" else tiny_models[which]
    trace = trace_generation(loaded, "The cat sat on", DecodingSettings(max_new_tokens=3, use_chat_template=False))
    plain = logit_lens(loaded, trace, 2, top_k=8)
    tuned = logit_lens(loaded, trace, 2, top_k=8, translate=new_lens(loaded).translate)
    assert np.array_equal(plain.top_ids, tuned.top_ids) and np.array_equal(plain.top_probs, tuned.top_probs)
    assert np.array_equal(plain.chosen_probs, tuned.chosen_probs)


@pytest.mark.parametrize("family", LENS_FAMILIES)
def test_training_lowers_the_heldout_kl_at_every_layer_but_the_last(family, tiny_models):
    loaded = tiny_models[family]
    train, heldout = split_heldout(token_chunks(loaded.tokenizer, [TEXT], 32), 0.2)
    lens = new_lens(loaded)
    train_lens(loaded, lens, lens_optimizer(lens, 1e-2), train, 40)
    report = lens_report(loaded, lens, heldout)
    assert report.logit_kl[:-1] == pytest.approx(lens_report(loaded, new_lens(loaded), heldout).tuned_kl[:-1])
    assert all(t < g for t, g in zip(report.tuned_kl[:-1], report.logit_kl[:-1], strict=True)), report
    assert report.tuned_kl[-1] == report.logit_kl[-1] == pytest.approx(0.0, abs=1e-5)  # the output itself
    assert report.logit_top1[-1] == 1.0 and lens.trained == {"steps": 40, "tokens": 40 * 32}


def test_a_saved_lens_is_found_for_its_model_and_refused_for_another(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    llama, gpt2 = tiny_models["llama"], tiny_models["gpt2"]
    assert find_lens(llama) is None
    lens = new_lens(llama)
    with torch.no_grad():
        lens.translators[1].bias.fill_(0.5)
    save_lens(lens, lens_folder(llama))
    again = find_lens(llama)
    assert torch.equal(again.translators[1].bias, lens.translators[1].bias)
    assert find_lens(gpt2) is None  # another model's folder
    with pytest.raises(ValueError, match="was trained for"):
        read_lens(lens_folder(llama), gpt2)


def test_the_job_stops_with_a_checkpoint_resumes_and_the_cli_reports(tiny_models, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    loaded = tiny_models["llama"]
    text = tmp_path / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    store = JobStore(tmp_path / "jobs.db")
    config = LensJobConfig(loaded.id, str(text), steps=6, chunk=32, lr=1e-2)
    job_id = record_lens_job(config, store)
    steps_seen = []
    with pytest.raises(LensStopped, match="stopped at step 2"):
        run_lens_job(config, store, lambda: len(store.metrics(job_id).get("kl", [])) >= 2)
    assert (tmp_path / "jobs" / f"job-{job_id}" / CHECKPOINT_FILE).is_file()
    fields = run_lens_job(config, store, lambda: steps_seen.append(1) and False)
    assert len(steps_seen) == 4  # resumed at step 2: four steps left
    assert store.get(job_id).step == 6 and [s for s, _ in store.metrics(job_id)["kl"]] == list(range(1, 7))
    report = fields["result"]["report"]
    assert report["trained"]["steps"] == 6 and find_lens(loaded) is not None

    code, out, err = run_cli(
        capsys, "lens", "eval", "--model", loaded.id, "--text", str(text), "--json", "--limit", "2"
    )
    assert code == 0, err
    printed = json.loads(out)
    assert printed["tokens"] == 64 and len(printed["tuned_kl"]) == loaded.num_layers + 1
    code, _, err = run_cli(capsys, "lens", "eval", "--model", tiny_models["gpt2"].id, "--text", str(text))
    assert code == 2 and "No tuned lens is trained" in err


def test_commitment_through_an_identity_lens_is_the_logit_lens_commitment(smollm, greedy_trace):
    from tracing.inspection.interventions.commitment_map import commitment
    from tracing.inspection.tuned_lens.commitment import tuned_commitment

    plain = commitment(smollm, greedy_trace)
    through = tuned_commitment(smollm, greedy_trace, new_lens(smollm))
    assert np.array_equal(through.ranks, plain.ranks) and np.array_equal(through.probs, plain.probs)
    lens = new_lens(smollm)
    with torch.no_grad():
        lens.translators[3].bias.normal_(0, 5.0, generator=torch.Generator().manual_seed(1))
    moved = tuned_commitment(smollm, greedy_trace, lens)
    assert not np.array_equal(moved.ranks[:, 3], plain.ranks[:, 3])  # row 3 read through its translator
    assert np.array_equal(np.delete(moved.ranks, 3, axis=1), np.delete(plain.ranks, 3, axis=1))


def test_a_stopped_job_resumes_in_its_own_process_and_saves_the_lens(tiny_models, tmp_path, monkeypatch):
    import time

    from tracing.experiments.tuned_lens_job import resume_lens_training

    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path))
    loaded = tiny_models["gpt2"]
    text = tmp_path / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    store = JobStore(tmp_path / "jobs.db")
    job_id = record_lens_job(LensJobConfig(loaded.id, str(text), steps=3, chunk=16, lr=1e-2), store)
    config = LensJobConfig.load(tmp_path / "jobs" / f"job-{job_id}" / "lens.json")
    with pytest.raises(LensStopped):
        run_lens_job(config, store, lambda: bool(store.metrics(job_id)))  # stopped after its first step
    assert not resume_lens_training(store, job_id)  # still active: nothing to resume
    store.finish(job_id, "stopped")
    assert resume_lens_training(store, job_id)  # `python -m tracing lens train --config ...`, in the background
    deadline = time.monotonic() + 240
    while store.get(job_id).active and time.monotonic() < deadline:
        time.sleep(1.0)
    job = store.get(job_id)
    assert job.status == "succeeded", job.error
    assert job.step == 3 and [s for s, _ in store.metrics(job_id)["kl"]] == [1, 2, 3]
    assert len(job.result["report"]["tuned_kl"]) == loaded.num_layers + 1
    assert find_lens(loaded).trained == {"steps": 3, "tokens": 48}
    assert not resume_lens_training(store, job_id)  # a finished lens is not trained again
