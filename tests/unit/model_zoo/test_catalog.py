"""The catalog: named entries, typed ids and paths, and the errors for ids that cannot be anything."""

from __future__ import annotations

import pytest

from model_zoo import ModelLoadError, default_entry, load_catalog, resolve
from model_zoo.catalog import _entry_from_dict


def test_catalog_lists_offline_and_hub_models():
    entries = {e.id: e for e in load_catalog()}
    assert entries["smollm2-135m-instruct"].source == "wheel-gguf"
    assert entries["minilm-l6"].kind == "encoder"
    for hub_id in ("gpt2", "smollm2-360m-instruct", "qwen2.5-0.5b-instruct", "llama-3.2-1b-instruct"):
        assert entries[hub_id].needs_download
        assert "(download)" in entries[hub_id].label
    assert default_entry().id == "smollm2-135m-instruct"


def test_resolve_accepts_catalog_id_repo_id_and_unknown_hub_id():
    assert resolve("gpt2").repo == "openai-community/gpt2"
    assert resolve("Qwen/Qwen2.5-0.5B-Instruct").id == "qwen2.5-0.5b-instruct"
    other = resolve("someone/some-model")
    assert (other.source, other.repo, other.kind) == ("hub", "someone/some-model", "causal-lm")


def test_resolve_local_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve(str(tmp_path)).source == "local"
    with pytest.raises(ModelLoadError, match="not a model folder"):
        resolve(str(tmp_path / "config.json"))


@pytest.mark.parametrize("bad", ["", "   ", "./missing/folder", "a/b/c"])
def test_resolve_rejects_ids_that_cannot_be_anything(bad):
    with pytest.raises(ModelLoadError):
        resolve(bad)


def test_bad_catalog_entries_are_named():
    with pytest.raises(ValueError, match="kind 'decoder'"):
        _entry_from_dict({"id": "x", "kind": "decoder", "source": "hub"})
    with pytest.raises(ValueError, match="lacks source"):
        _entry_from_dict({"id": "x", "kind": "encoder"})


def test_every_kind_is_described_once_and_every_entry_names_one():
    from model_zoo.kinds import KINDS, TASK_KINDS, get_kind

    assert {e.kind for e in load_catalog()} <= set(KINDS)
    fine_tuned = [kind for kind in KINDS.values() if kind.finetune_task]  # a masked LM has no fine-tune task
    assert len(TASK_KINDS) == len(fine_tuned) >= 2  # each kind that fine-tunes learns its own task
    with pytest.raises(ValueError, match="not one of"):
        get_kind("decoder-only")
