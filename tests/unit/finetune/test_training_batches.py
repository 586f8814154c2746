import torch

from finetune.training_batches import collate_causal, collate_causal_packed, length_grouped_batches, random_batches


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
    from finetune.training_batches import causal_loss

    model = smollm.model
    batch = collate_causal([([1, 5, 9, 11, 13, 2], [-100, -100, -100, 11, 13, 2]), ([1, 7, 8], [-100, -100, 8])], 0)
    with torch.no_grad():
        ours, count = causal_loss(model, batch)
        theirs = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        ).loss
    assert count == 4
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_random_batches_keep_every_example():
    batches = random_batches(20, 8, seed=3)
    assert [len(b) for b in batches] == [8, 8, 4]
    assert sorted(i for b in batches for i in b) == list(range(20))


def test_packed_batch_gives_the_padded_loss(smollm):
    from finetune.training_batches import causal_loss

    examples = [([1, 5, 9, 11, 13, 2], [1, 5, 9, 11, 13, 2]), ([1, 7, 8], [-100, -100, 8]), ([4, 6], [-100, 6])]
    packed = collate_causal_packed(examples)
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 0, 1, 2, 0, 1]]
    assert packed["labels"].tolist()[0][6] == -100  # nothing trains token 5 of one example to predict the next
    with torch.no_grad():
        ours, count = causal_loss(smollm.model, packed)
        padded, padded_count = causal_loss(smollm.model, collate_causal(examples, 0))
    assert count == padded_count == 7
    torch.testing.assert_close(ours, padded, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # the single packed row under a block-causal mask, as on a GPU, gives it too
        whole = smollm.model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False)
    labels = packed["labels"][0, 1:]
    whole_loss = torch.nn.functional.cross_entropy(whole.logits[0, :-1][labels != -100], labels[labels != -100])
    torch.testing.assert_close(whole_loss, padded, rtol=1e-4, atol=1e-5)
