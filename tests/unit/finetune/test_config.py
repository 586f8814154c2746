import pytest

from finetune.config import PRESETS, TrainConfig, estimate, preset


def test_presets_and_round_trip(tmp_path):
    quick = preset("quick", train_file="x.jsonl", name="n")
    assert quick.problems() == [] and quick.name == "n"
    assert "two minutes" in PRESETS["quick"]["description"]
    assert TrainConfig.load(quick.save(tmp_path / "c.json")) == quick
    with pytest.raises(ValueError, match="unknown preset"):
        preset("fast")


def test_bad_settings_are_listed():
    problems = TrainConfig(train_file="x", lora_rank=0, learning_rate=2.0, max_steps=0, epochs=0).problems()
    assert any("lora_rank" in p for p in problems) and any("learning_rate" in p for p in problems)
    assert any("max_steps or epochs" in p for p in problems)
    with pytest.raises(ValueError, match="unknown settings: rank"):
        TrainConfig.from_dict({"rank": 3})


def test_steps_and_estimate():
    config = TrainConfig(train_file="x", max_steps=0, epochs=2, batch_size=8)
    assert config.total_steps(100) == 26
    guess = estimate(config, train_examples=100, mean_tokens=90, parameters=135_000_000, hidden=576, layers=30)
    assert guess.steps == 26 and guess.tokens == 26 * 8 * 90 and guess.seconds > 0 and guess.memory_bytes > 5e8
    assert "steps" in guess.describe()
