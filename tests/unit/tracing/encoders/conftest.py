"""Tiny random sequence classifiers of every encoder family, built from their transformers configs with the
offline encoder's tokenizer (its vocabulary), saved as a user's folder is. Weights get noise on top of the
initialisation, so LayerNorms have non-unit gains and biases are non-zero."""

from __future__ import annotations

import pytest
import torch

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             max_position_embeddings=128)  # fmt: skip
CONFIGS = {
    "bert": SMALL,
    "roberta": SMALL | dict(pad_token_id=0),
    "xlm-roberta": SMALL | dict(pad_token_id=0),
    "electra": SMALL | dict(embedding_size=32),
    "deberta-v2": SMALL
    | dict(
        relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=16, max_relative_positions=64
    ),  # fmt: skip
    "distilbert": dict(dim=64, hidden_dim=128, n_layers=2, n_heads=4, max_position_embeddings=128),
}
LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="session")
def encoder_tokenizer():
    from transformers import AutoTokenizer

    from model_zoo import resolve
    from model_zoo.loading import package_folder

    entry = resolve("minilm-l6")
    return AutoTokenizer.from_pretrained(package_folder(entry.package) / entry.subfolder)


@pytest.fixture(scope="session")
def encoder_folders(encoder_tokenizer, tmp_path_factory) -> dict[str, str]:
    """One saved tiny classifier (three named classes) per encoder family."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    root = tmp_path_factory.mktemp("encoders")
    folders = {}
    for index, (family, settings) in enumerate(CONFIGS.items()):
        torch.manual_seed(index)
        config = AutoConfig.for_model(
            family,
            vocab_size=len(encoder_tokenizer),
            id2label=dict(enumerate(LABELS)),
            label2id={name: i for i, name in enumerate(LABELS)},
            **settings,
        )
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.1)
        folder = root / family
        model.save_pretrained(folder)
        encoder_tokenizer.save_pretrained(folder)
        folders[family] = str(folder)
    return folders
