from contextlib import contextmanager

import pytest
import torch

from finetune.packed_attention import NAME, segment_starts, use_packed_attention
from finetune.training_batches import collate_causal, collate_causal_packed

EXAMPLES = [
    ([1, 5, 9, 11, 13, 2, 17], [-100, -100, 9, 11, 13, 2, 17]),
    ([1, 7, 8], [-100, -100, 8]),
    ([4, 6, 30, 31, 32], [-100, 6, 30, 31, 32]),
]


@contextmanager
def attention(model, name):
    """Runs the shared session model with another attention implementation, then puts its own back."""
    before = model.config._attn_implementation
    if name == NAME:
        assert use_packed_attention(model)
    else:
        model.set_attn_implementation(name)
    try:
        yield model
    finally:
        model.set_attn_implementation(before)


def test_segment_starts_reads_restarting_positions():
    assert segment_starts(torch.tensor([[0, 1, 2, 0, 1, 0]]), 6) == [0, 3, 5, 6]
    assert segment_starts(torch.tensor([[0, 1, 2, 3]]), 4) is None  # one example: plain SDPA
    assert segment_starts(torch.tensor([[5, 6, 0, 1]]), 4) is None  # a continuation with a cache
    assert segment_starts(torch.tensor([[0, 1], [0, 1]]), 2) is None  # several rows
    assert segment_starts(None, 3) is None


def _per_example_rows(packed_tensor, examples):
    rows, start = [], 0
    for ids, _ in examples:
        rows.append(packed_tensor[0, start : start + len(ids)])
        start += len(ids)
    return rows


def test_packed_row_equals_each_example_alone_with_gradients(smollm):
    """Logits and input gradients of the packed row match a padded batch (sdpa): no attention across examples,
    in the backward pass too."""
    packed = collate_causal_packed(EXAMPLES)
    padded = collate_causal(EXAMPLES, 0)
    model = smollm.model
    embed = model.get_input_embeddings()

    with attention(model, "sdpa"):
        padded_embeds = embed(padded["input_ids"]).detach().requires_grad_(True)
        padded_logits = model(inputs_embeds=padded_embeds, attention_mask=padded["attention_mask"]).logits
        score = (padded_logits.float().log_softmax(-1)[..., 17] * padded["attention_mask"]).sum()
        (padded_grad,) = torch.autograd.grad(score, padded_embeds)
    with attention(model, NAME):
        packed_embeds = embed(packed["input_ids"]).detach().requires_grad_(True)
        packed_logits = model(inputs_embeds=packed_embeds, position_ids=packed["position_ids"], use_cache=False).logits
        (packed_grad,) = torch.autograd.grad(packed_logits.float().log_softmax(-1)[..., 17].sum(), packed_embeds)

    logit_rows = _per_example_rows(packed_logits.detach(), EXAMPLES)
    grad_rows = _per_example_rows(packed_grad, EXAMPLES)
    for row, (ids, _) in enumerate(EXAMPLES):
        n = len(ids)
        torch.testing.assert_close(logit_rows[row], padded_logits.detach()[row, :n], rtol=1e-4, atol=1e-3)
        reference = padded_grad[row, :n]
        assert float((grad_rows[row] - reference).abs().max() / reference.abs().max()) < 1e-3


def test_changing_one_example_leaves_the_others_alone(smollm):
    changed = [EXAMPLES[0], ([1, 99, 98], [-100, -100, 98]), EXAMPLES[2]]
    model = smollm.model
    with attention(model, NAME), torch.no_grad():
        outputs = []
        for examples in (EXAMPLES, changed):
            batch = collate_causal_packed(examples)
            logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
            outputs.append(_per_example_rows(logits, examples))
    torch.testing.assert_close(outputs[0][0], outputs[1][0])
    torch.testing.assert_close(outputs[0][2], outputs[1][2])
    assert not torch.allclose(outputs[0][1], outputs[1][1])


@pytest.mark.parametrize("rows", [1, 2])
def test_everything_else_runs_as_plain_sdpa(smollm, rows):
    """Padded batches and cached generation are not packed rows: they give what sdpa gives."""
    model, tokenizer = smollm.model, smollm.tokenizer
    prompts = ["The capital of France is", "Two plus two equals"][:rows]
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    results = {}
    for name in ("sdpa", NAME):
        with attention(model, name), torch.no_grad():
            logits = model(**batch).logits
            tokens = model.generate(**batch, max_new_tokens=6, do_sample=False)
        results[name] = (logits, tokens)
    torch.testing.assert_close(results[NAME][0], results["sdpa"][0])
    assert torch.equal(results[NAME][1], results["sdpa"][1])
