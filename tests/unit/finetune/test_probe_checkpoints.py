"""A probe's trace at a checkpoint names that checkpoint's adapter, and the zoo loads it again: a fresh load
of the checkpoint reads the probe's reference exactly as the training loop did, so the Trace page's
attributions and logit lens of a probe trace run on the model of that step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finetune.checkpoints import checkpoint_folder, checkpoint_steps
from finetune.probes import saved_probe_trace
from finetune.train import train
from model_zoo import load_model
from model_zoo.catalog import load_catalog, resolve
from tests.unit.finetune.test_train_job import tiny_config, workdir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


def teacher_forced_probs(loaded, trace) -> list[float]:
    """The probability the model gives each recorded token, from one full forward pass over the trace."""
    ids = trace.prompt_ids + [m.token_id for m in trace.moments]
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([ids])).logits[0].float()
    start = len(trace.prompt_ids) - 1
    probs = torch.softmax(logits[start : start + len(trace.moments)], dim=-1)
    return [float(probs[i, m.token_id]) for i, m in enumerate(trace.moments)]


def test_each_checkpoint_adapter_loads_back_and_reads_its_probe_as_training_did(workdir):  # noqa: F811
    from tracing.inspection.attribution import attribute_moment

    root = workdir / "checkpoints"
    config = tiny_config(
        workdir, max_steps=4, checkpoint_every=2, checkpoint_dir=str(root), probe_count=1, test_file="",
        test_limit=0, eval_every=100, learning_rate=5e-3,
    )  # fmt: skip
    train(config)
    assert checkpoint_steps(root) == [0, 2, 4]

    read = {}
    for step in (0, 4):
        trace = saved_probe_trace(root, step, 0)
        assert trace.identity.adapter == str(checkpoint_folder(root, step))
        loaded = load_model(trace.identity.name)
        assert loaded.identity == trace.identity  # so attribution and the logit lens accept the trace
        read[step] = teacher_forced_probs(loaded, trace)
        assert read[step] == pytest.approx([m.prob for m in trace.moments], rel=1e-4, abs=1e-6)
        attribution = attribute_moment(loaded, trace, 0, method="input_x_gradient")
        assert attribution.target_id == trace.moments[0].token_id and np.isfinite(attribution.scores).all()
    assert max(abs(a - b) for a, b in zip(read[0], read[4], strict=True)) > 1e-3  # step 4 is not the base

    listed = {entry.id for entry in load_catalog()}
    assert str(checkpoint_folder(root, 2)) not in listed  # checkpoints load by path; the model list stays short
    assert resolve(str(checkpoint_folder(root, 2))).base == config.model
