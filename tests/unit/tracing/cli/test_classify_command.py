"""``python -m tracing classify`` on a tiny classifier folder: the printed probabilities equal a plain
transformers forward of the folder, the per-token scores equal the engine's, and bad input ends with one line
and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import torch

from tests.unit.tracing.conftest import run_cli
from tests.unit.tracing.encoders.conftest import LABELS, encoder_folders, encoder_tokenizer  # noqa: F401
from tracing.encoders.attribution import attribute_decision
from tracing.encoders.decision import load_classifier
from tracing.inspection.attribution import AttributionSettings

TEXT, PAIR = "a quiet film with a wonderful ending", "would watch again"


def test_classify_prints_the_probabilities_and_scores(capsys, encoder_folders):  # noqa: F811
    from transformers import AutoModelForSequenceClassification

    folder = encoder_folders["bert"]
    code, out, err = run_cli(
        capsys, "classify", "--model", folder, "--text", TEXT, "--pair", PAIR,
        "--attribute", "integrated_gradients", "--label", "positive", "--contrast", "negative", "--json", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    plain = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = load_classifier(folder, device="cpu").tokenizer
    with torch.inference_mode():
        probs = plain(**tokenizer(TEXT, PAIR, return_tensors="pt")).logits[0].softmax(-1).numpy()
    assert list(result["probabilities"]) == LABELS
    np.testing.assert_allclose(list(result["probabilities"].values()), probs, atol=1e-5)
    settings = AttributionSettings(n_steps=64)  # the command's default
    engine = attribute_decision(
        load_classifier(folder, device="cpu"), TEXT, 2, pair=PAIR, contrast=0, settings=settings
    )
    np.testing.assert_allclose(result["attribution"]["scores"], engine.scores, atol=1e-5)
    assert len(result["tokens"]) == len(result["attribution"]["scores"])
    assert result["attribution"]["contrast"] == "negative"


def test_classify_prints_a_table(capsys, encoder_folders):  # noqa: F811
    code, out, err = run_cli(capsys, "classify", "--model", encoder_folders["distilbert"], "--text", TEXT)
    assert code == 0, err
    assert all(name in out for name in LABELS)


def test_bad_input_is_one_line_and_exit_code_2(capsys, encoder_folders, tmp_path):  # noqa: F811
    folder = encoder_folders["bert"]
    code, _, err = run_cli(capsys, "classify", "--model", folder, "--text", TEXT, "--label", "happy")
    assert code == 2 and "'happy' is not one of this model's classes" in err
    code, _, err = run_cli(capsys, "classify", "--model", folder, "--text", "  ")
    assert code == 2 and "--text is empty" in err
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    code, _, err = run_cli(capsys, "classify", "--model", str(tmp_path), "--text", TEXT)
    assert code == 2 and "not a sequence classifier" in err


def test_a_masked_lm_prints_its_top_tokens_and_scores(capsys, encoder_tokenizer, tmp_path):  # noqa: F811
    from transformers import AutoConfig, AutoModelForMaskedLM

    from tracing.encoders.masked import attribute_mask, load_masked_lm

    torch.manual_seed(0)
    config = AutoConfig.for_model("bert", vocab_size=len(encoder_tokenizer), hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=2, num_attention_heads=4)  # fmt: skip
    AutoModelForMaskedLM.from_config(config).save_pretrained(tmp_path)
    encoder_tokenizer.save_pretrained(tmp_path)
    text = "the ending was [MASK] ."
    code, out, err = run_cli(capsys, "classify", "--model", str(tmp_path), "--text", text, "--top-k", "3",
                             "--attribute", "saliency", "--json")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    plain = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    with torch.inference_mode():
        logits = plain(**encoder_tokenizer(text, return_tensors="pt")).logits[0, result["masked_position"]]
    np.testing.assert_allclose(list(result["probabilities"].values()), logits.softmax(-1).topk(3).values, atol=1e-5)
    top = logits.topk(2).indices.tolist()
    engine = attribute_mask(load_masked_lm(str(tmp_path), "cpu"), text, top[0], "saliency", contrast_id=top[1])
    np.testing.assert_allclose(result["attribution"]["scores"], engine.scores, atol=1e-5)
