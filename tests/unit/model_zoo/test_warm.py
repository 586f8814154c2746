"""`python -m model_zoo warm`: a model made ready before class, and a model that cannot be had named."""

from __future__ import annotations

import json

from model_zoo.__main__ import main
from model_zoo.catalog import resolve
from model_zoo.gguf_cache import needs_conversion
from tests.conftest import OFFLINE_CHAT_MODEL


def test_warm_leaves_the_default_model_ready_and_says_so(smollm, capsys):
    assert main(["warm", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["model"] == OFFLINE_CHAT_MODEL and result["converted"] is False  # the suite's home has it
    assert not needs_conversion(resolve(OFFLINE_CHAT_MODEL))


def test_warm_names_a_model_it_cannot_get_and_fails(capsys):
    assert main(["warm", "no-such-user/no-such-model"]) == 1
    assert "no-such-user/no-such-model" in capsys.readouterr().out
