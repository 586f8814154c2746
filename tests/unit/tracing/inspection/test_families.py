"""Every family of `model_zoo.families` on a tiny random model built from its transformers config, saved with
``save_pretrained`` and loaded through `model_zoo.load_model(folder)` as a user's folder is: the trace equals a
plain forward; contributions add up to the model's logit; a head ablation equals the output projection's input
columns zeroed in a copy of the weights (at every position and at the moment's alone); a knockout equals the
run with those keys masked; patching restores the clean run; the logit lens's last row is the output.

Weights get noise on top of the initialisation, so norms have non-unit gains and biases are non-zero. The
suite runs on the CPU in float32; ``MOMENTSCOPE_TEST_DEVICE`` and ``MOMENTSCOPE_TEST_DTYPE`` run it elsewhere
(``benchmarks/gpu_check.sh``: CUDA, bfloat16, with bfloat16's tolerance).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch

from model_zoo import LoadedModel, ModelEntry
from model_zoo.families import FAMILIES, FEATURES, SUITE, coverage_table
from model_zoo.layout import layout_of_model, layout_problem
from tests.tiny_decoders import CONFIGS, save_tiny_decoder
from tracing.core.decode import trace_generation
from tracing.core.trace import DecodingSettings
from tracing.inspection.interventions import Ablation, Knockout, commitment, contributions, intervene
from tracing.inspection.interventions.patching import layer_inputs, patched_log_probs, patching_sweep
from tracing.inspection.logit_lens import lens_layout, logit_lens

DEVICE = os.environ.get("MOMENTSCOPE_TEST_DEVICE", "cpu")
DTYPE = getattr(torch, os.environ.get("MOMENTSCOPE_TEST_DTYPE", "float32"))
TOL = 1e-5 if DTYPE is torch.float32 else 5e-2  # equal up to the rounding of the dtype the model runs in
PROMPT = "The cat sat on the mat because it"
SETTINGS = DecodingSettings(max_new_tokens=4, use_chat_template=False, stop_at_eos=False)
MOMENT, LAYER, HEAD, KEYS = 2, 1, 1, (1, 3)


def test_every_family_has_a_tiny_model_here_and_the_coverage_table_names_these_tests():
    assert set(CONFIGS) == set(FAMILIES)
    assert Path(__file__).resolve() == Path(__file__).resolve().parents[4] / SUITE
    for feature, test in FEATURES.items():
        assert callable(globals().get(test)), f"{feature}: {test} is not a test of this suite"
    rows = [line for line in coverage_table().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == sorted(FAMILIES)
    assert all(row.count("✓") == len(FEATURES) for row in rows)
    assert coverage_table() in (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def family_folders(smollm, tmp_path_factory) -> dict[str, str]:
    """One saved tiny random model per family, with the offline tokenizer (its vocabulary)."""
    root = tmp_path_factory.mktemp("families")
    folders = {}
    for index, (family, settings) in enumerate(CONFIGS.items()):
        folders[family] = save_tiny_decoder(family, settings, smollm.tokenizer, root / family, seed=index)
    return folders


@pytest.fixture(scope="session", params=sorted(CONFIGS))
def family(request, family_folders):
    """(loaded tiny model, its trace) for each family."""
    from model_zoo import load_model

    loaded = load_model(family_folders[request.param], device=DEVICE, dtype=DTYPE)
    assert loaded.architecture == request.param and loaded.layout is not None
    return loaded, trace_generation(loaded, PROMPT, SETTINGS)


def plain_log_probs(model, ids, **kwargs) -> torch.Tensor:
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([list(ids)], device=model.device), use_cache=False, **kwargs).logits
    return logits[0].float().log_softmax(-1)


def prefix(trace) -> list[int]:
    return trace.all_ids[: trace.prompt_len + MOMENT]


def test_the_trace_equals_a_plain_forward(family):
    loaded, trace = family
    reference = plain_log_probs(loaded.model, trace.all_ids[:-1])[trace.prompt_len - 1 :].exp()
    for moment, probs in zip(trace.moments, reference, strict=True):
        assert moment.prob == pytest.approx(float(probs[moment.token_id]), abs=TOL)


@pytest.mark.parametrize("contrast", [False, True])
def test_contributions_add_up_to_the_models_logit(family, contrast):
    loaded, trace = family
    moment = trace.moments[MOMENT]
    runner_up = int(moment.top_ids[1]) if moment.top_ids[0] == moment.token_id else int(moment.top_ids[0])
    result = contributions(loaded, trace, MOMENT, contrast_id=runner_up if contrast else None)
    assert abs(result.gap) <= 10 * TOL * max(1.0, abs(result.logit))  # the parts add up to ``logit``
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([prefix(trace)], device=loaded.device)).logits[0, -1].double()
    cap = loaded.layout.logit_softcap  # the parts add up before a soft cap; the model's logit is after it
    if contrast:
        if cap is None:
            assert result.logit == pytest.approx(float(logits[moment.token_id] - logits[runner_up]), abs=10 * TOL)
    else:
        model_logit = result.total if cap is None else cap * torch.tanh(torch.tensor(result.total) / cap)
        assert float(model_logit) == pytest.approx(float(logits[moment.token_id]), abs=10 * TOL)
    assert float(abs(result.heads).max()) > 0 and float(abs(result.mlps).max()) > 0


def zeroed_head_copy(loaded) -> torch.nn.Module:
    """A deep copy of the model with head HEAD of layer LAYER removed from its output projection's weight."""
    layout = loaded.layout
    model = copy.deepcopy(loaded.model)
    with torch.no_grad():
        projection = layout.output_projection(model, LAYER)
        layout.projection_columns(projection.weight)[:, layout.head_slice(HEAD)] = 0
    return model


@pytest.mark.parametrize("scope", ["all", "moment"])
def test_a_head_ablation_equals_its_columns_zeroed_in_a_copy(family, scope):
    from transformers import DynamicCache

    loaded, trace = family
    result = intervene(loaded, trace, MOMENT, Ablation("head", LAYER, HEAD, "zero", scope))
    copied, ids = zeroed_head_copy(loaded), torch.tensor([prefix(trace)], device=loaded.device)
    with torch.inference_mode():
        if scope == "all":
            logits = copied(input_ids=ids, use_cache=False).logits
        else:  # the copy recomputes the moment's position alone, on the clean model's cache of the others
            cache = DynamicCache(config=loaded.model.config)
            loaded.model(input_ids=ids[:, :-1], past_key_values=cache, use_cache=True)
            logits = copied(input_ids=ids[:, -1:], past_key_values=cache, use_cache=True).logits
    reference = logits[0, -1].float().log_softmax(-1)
    assert result.log_prob == pytest.approx(float(reference[result.target_id]), abs=TOL)
    assert result.log_prob != pytest.approx(result.clean_log_prob, abs=1e-7)


def test_a_knockout_equals_the_run_with_those_keys_masked(family):
    loaded, trace = family
    result = intervene(loaded, trace, MOMENT, Knockout(KEYS))
    n = len(prefix(trace))
    blocked = torch.finfo(DTYPE).min
    mask = torch.full((n, n), blocked, dtype=DTYPE, device=loaded.device).triu(1)
    mask[-1, list(KEYS)] = blocked
    positions = torch.arange(n, device=loaded.device)[
        None
    ]  # learned positions (OPT) are otherwise counted from a 2-D mask
    reference = plain_log_probs(loaded.model, prefix(trace), attention_mask=mask[None, None], position_ids=positions)
    reference = reference[-1]
    assert result.log_prob == pytest.approx(float(reference[result.target_id]), abs=TOL)
    assert result.log_prob != pytest.approx(result.clean_log_prob, abs=1e-7)


def test_patching_restores_the_clean_run(family):
    loaded, trace = family
    clean = prefix(trace)
    changed = 2
    corrupted = clean[:changed] + [(clean[changed] + 7) % len(loaded.tokenizer)] + clean[changed + 1 :]
    target = trace.moments[MOMENT].token_id
    found = patching_sweep(loaded, clean, corrupted, target)
    assert found["corrupted_metric"] != pytest.approx(found["clean_metric"], abs=1e-6)
    # the changed token's own position, patched before the first layer, is the whole difference
    assert found["metric"][0, 0] == pytest.approx(found["clean_metric"], abs=TOL)
    inputs, clean_log_probs = layer_inputs(loaded, clean)
    every_site = [(layer, p) for layer in range(loaded.layout.num_layers) for p in range(changed, len(clean))]
    restored = patched_log_probs(loaded, corrupted, inputs, every_site)
    assert float((restored - clean_log_probs).abs().max()) <= TOL
    one_site = patched_log_probs(loaded, corrupted, inputs, [(LAYER, len(clean) - 1)])
    column = list(found["positions"]).index(len(clean) - 1)
    assert found["metric"][LAYER, column] == pytest.approx(float(one_site[target]), abs=TOL)


def test_the_logit_lens_last_row_is_the_output(family):
    loaded, trace = family
    lens = logit_lens(loaded, trace, MOMENT, top_k=3)
    moment = trace.moments[MOMENT]
    assert len(lens.layer_names) == loaded.layout.num_layers + 1
    assert lens.chosen_probs[-1] == pytest.approx(moment.prob, abs=TOL)
    if DTYPE is torch.float32:  # in bfloat16 near-equal probabilities of a random model may swap places
        assert list(lens.top_ids[-1]) == list(moment.top_ids[:3])


def test_commitment_ends_in_each_moments_own_rank(family):
    loaded, trace = family
    result = commitment(loaded, trace)
    assert list(result.ranks[:, -1]) == [m.rank for m in trace.moments]


def test_a_family_outside_the_registry_is_named():
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model("bloom", vocab_size=64, hidden_size=32, n_layer=1, n_head=2)
    model = AutoModelForCausalLM.from_config(config)
    assert layout_of_model(model) is None
    assert layout_problem(model).startswith("'bloom' has no family description here")
    entry = ModelEntry(id="tiny-bloom", kind="causal-lm", source="local")
    loaded = LoadedModel(entry, model, None, torch.device("cpu"), torch.float32, 0.0)
    with pytest.raises(ValueError, match="'bloom' has no family description.*nor its layers read through the logit"):
        lens_layout(loaded)


def test_a_variant_a_family_does_not_describe_is_named():
    from transformers import AutoConfig, AutoModelForCausalLM

    settings = CONFIGS["opt"] | dict(do_layer_norm_before=False)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("opt", vocab_size=64, **settings))
    assert layout_of_model(model) is None
    assert "do_layer_norm_before=False" in layout_problem(model)


def test_the_page_says_where_a_norm_is_frozen_or_a_cap_applies(family):
    loaded, _ = family
    name, note = loaded.architecture, loaded.layout.decomposition_note or ""
    assert ("freezes it at its actual scale" in note) == (name in {"gemma2", "gemma3_text", "olmo2"})
    assert ("soft-capped" in note) == (name in {"gemma2", "gemma3_text"})


def test_the_command_prints_the_table(capsys):
    from model_zoo.__main__ import main

    assert main(["families"]) == 0
    assert capsys.readouterr().out.strip() == coverage_table().strip()


def test_every_module_the_description_names_is_there(family):
    """Each path of the entry, the descriptive ones included (embeddings, input norms, query/key/value
    projections), names a module of the real model."""
    loaded, _ = family
    described, model = loaded.layout.family, loaded.base_model
    for path in (described.layers, described.embeddings, described.final_norm):
        assert isinstance(model.get_submodule(path), torch.nn.Module), path
    layer = loaded.layout.layers(model)[0]
    names = [described.attention, described.mlp, described.attention_in_norm, described.mlp_in_norm,
             described.attention_out_norm, described.mlp_out_norm]  # fmt: skip
    for path in filter(None, names):
        assert isinstance(layer.get_submodule(path), torch.nn.Module), path
    attention = layer.get_submodule(described.attention)
    for path in [described.output_projection, *described.qkv.split(", ")]:
        assert isinstance(attention.get_submodule(path), torch.nn.Module), path
    assert model.get_submodule(described.embeddings) is model.get_input_embeddings()
