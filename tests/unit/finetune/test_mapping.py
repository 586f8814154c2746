from finetune.mapping import guess_mapping


def test_guesses_from_common_column_names():
    assert guess_mapping(["instruction", "output"]).columns == {"prompt": "instruction", "response": "output"}
    assert guess_mapping(["messages"]).style == "messages"
    assert guess_mapping(["sentence", "label"], "classification").columns == {"text": "sentence", "label": "label"}
    assert guess_mapping(["text"]).style == "text"
    assert guess_mapping(["a", "b"]).style == "prompt-response"
    assert guess_mapping(["a", "b", "c"], "classification") is None
