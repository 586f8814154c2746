import torch

from finetune.batching import collate_causal, length_grouped_batches


def _padding(lengths, batches):
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_length_grouping_wastes_less_padding_and_keeps_every_example():
    lengths = [10 + (i * 37) % 90 for i in range(256)]
    grouped = length_grouped_batches(lengths, 8, seed=0)
    assert sorted(i for b in grouped for i in b) == list(range(256))
    random_order = [list(range(i, i + 8)) for i in range(0, 256, 8)]
    assert _padding(lengths, grouped) < _padding(lengths, random_order) / 5


def test_collate_pads_per_batch_and_finds_first_trained_position():
    batch = collate_causal([([1, 2, 3, 4], [-100, -100, 3, 4]), ([5, 6, 7], [-100, -100, -100])], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4], [5, 6, 7, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"][1].tolist() == [-100] * 4
    assert batch["logits_from"] == 1  # position 1 predicts token 2, the first label


def test_response_only_logits_give_the_full_loss(smollm):
    from finetune.batching import causal_loss

    model = smollm.model
    batch = collate_causal([([1, 5, 9, 11, 13, 2], [-100, -100, -100, 11, 13, 2]), ([1, 7, 8], [-100, -100, 8])], 0)
    with torch.no_grad():
        ours, count = causal_loss(model, batch)
        theirs = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        ).loss
    assert count == 4
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
