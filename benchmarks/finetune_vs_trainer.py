"""Our fine-tune loop against a plain Hugging Face ``Trainer`` + peft: same data, model, LoRA and steps, one run.

Data: worked sums of 1- to 5-digit numbers (the bundled task's format). Their lengths vary from about 60
to 150 tokens, as instruction sets do, which is where padding costs a plain Trainer: it pads each random
batch to its longest example. Both runs train on the same encoded examples (chat template, loss on the
response only), with SDPA attention, AdamW, the same learning rate, warm-up, seed and LoRA settings.
Throughput counts real (non-pad) tokens per second of training step time, summed over ``--rounds`` runs of
each side in ABBA order (so neither always runs first), with the same torch thread count on both sides
(``--threads``, default 1: on a shared CPU, OpenMP threads waiting on each other make timings erratic). Both
tuned models are then scored by the same function on the same held-out examples.

    python benchmarks/finetune_vs_trainer.py --json        # last stdout line: the JSON result
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the training processes do; before torch loads
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

from benchmarks.smoke import parse_args  # noqa: E402
from finetune.config import TrainConfig  # noqa: E402
from finetune.encoding import encode_causal  # noqa: E402
from finetune.evaluate import mean_loss  # noqa: E402
from finetune.sample_data import addition_examples, write_jsonl  # noqa: E402
from model_zoo.kinds import CAUSAL_LM  # noqa: E402


def make_data(folder: Path, train_count: int, heldout_count: int) -> tuple[Path, list[dict]]:
    rows = addition_examples(train_count + heldout_count, digits=(1, 5), seed=1)
    rows = [{"prompt": r["prompt"], "response": r["response"]} for r in rows]
    path = folder / "sums_train.jsonl"
    write_jsonl(rows[:train_count], path)
    return path, rows[train_count:]


class CountingCollator:
    """Wraps a collator and counts real and padded tokens of the first ``limit`` batches it builds."""

    def __init__(self, collate, limit: int):
        self.collate, self.limit, self.batches = collate, limit, 0
        self.real_tokens = self.padded_tokens = 0

    def __call__(self, features):
        batch = self.collate(features)
        if self.batches < self.limit:
            self.real_tokens += int(batch["attention_mask"].sum())
            self.padded_tokens += batch["attention_mask"].numel()
        self.batches += 1
        return batch


def run_trainer(config: TrainConfig, encoded: list[tuple[list[int], list[int]]], out: Path) -> dict:
    """A plain Trainer + peft run: random batches, dynamic padding to the longest in each batch."""
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments, set_seed

    from finetune.train import lora_model
    from model_zoo import load_model

    loaded = load_model(config.model, device="cpu")
    tokenizer = loaded.tokenizer
    loaded.model.set_attn_implementation("sdpa")
    set_seed(config.seed)  # the same LoRA init as our loop, which seeds right before adding the adapters
    model = lora_model(loaded.model, config)
    features = [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels} for ids, labels in encoded]
    collator = CountingCollator(
        DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100), config.max_steps
    )

    class StepClock(TrainerCallback):
        def __init__(self):
            self.seconds, self.losses, self._start = 0.0, [], 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self._start

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    clock = StepClock()
    args = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=config.batch_size,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        lr_scheduler_type="linear",
        weight_decay=config.weight_decay,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=config.seed,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=features, data_collator=collator, callbacks=[clock])
    wall = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - wall
    return {
        "model": model,
        "tokenizer": tokenizer,
        "seconds": clock.seconds,
        "wall_seconds": wall,
        "tokens": collator.real_tokens,
        "padded_tokens": collator.padded_tokens,
        "losses": clock.losses,
    }


def run_ours(config: TrainConfig) -> dict:
    from finetune import train as train_module

    captured = {}
    original = train_module.save_adapter

    def keep_model(model, tokenizer, cfg, result, job_id, **_):  # keep the tuned model; write nothing to the zoo
        captured["model"], captured["tokenizer"] = model, tokenizer
        return "", ""

    train_module.save_adapter = keep_model
    losses = []
    try:
        wall = time.perf_counter()
        result = train_module.train(config, on_step=lambda step, values: losses.append(values["loss"]))
        wall = time.perf_counter() - wall
    finally:
        train_module.save_adapter = original
    return captured | {
        "seconds": result["train_seconds"],
        "wall_seconds": wall,
        "tokens": result["tokens"],
        "padded_tokens": result["padded_tokens"],
        "losses": losses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--train-examples", type=int, default=200)
    parser.add_argument("--heldout", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side, in ABBA order")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parse_args(parser, steps=1, batch_size=2, train_examples=8, heldout=2, rounds=1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_file, heldout = make_data(tmp, args.train_examples, args.heldout)
        config = TrainConfig(
            train_file=str(train_file),
            model="smollm2-135m-instruct",
            device="cpu",
            max_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=1e-3,
            lora_rank=16,
            lora_alpha=32,
            max_length=256,
            warmup_steps=2,
            validation_fraction=0.0,
            eval_every=10**9,
            sample_count=0,
            seed=0,
            name="benchmark",
        )
        from model_zoo import load_model

        tokenizer = load_model(config.model, device="cpu").tokenizer
        examples = [json.loads(line) for line in train_file.read_text().splitlines()]
        encoded = [encode_causal(e, tokenizer, config.max_length) for e in examples]

        sides = {"trainer": lambda: run_trainer(config, encoded, tmp), "ours": lambda: run_ours(config)}
        runs: dict[str, list[dict]] = {"trainer": [], "ours": []}
        for round_index in range(args.rounds):  # ABBA...: neither side always runs first (warm caches, load)
            order = ["trainer", "ours"] if round_index % 2 == 0 else ["ours", "trainer"]
            for name in order:
                for earlier in runs[name]:  # only the last run's model is scored: free the others
                    earlier.pop("model", None)
                runs[name].append(sides[name]())
                print(f"round {round_index + 1}: {name} done", file=sys.stderr)
        summary = {}
        for name, side_runs in runs.items():
            last = side_runs[-1]
            seconds = sum(r["seconds"] for r in side_runs)
            tokens = sum(r["tokens"] for r in side_runs)
            heldout_loss = mean_loss(
                last["model"], last["tokenizer"], heldout, CAUSAL_LM.finetune_task, max_length=config.max_length
            )
            summary[name] = {
                "tokens_per_second": tokens / seconds,
                "tokens_per_second_each_round": [r["tokens"] / r["seconds"] for r in side_runs],
                "step_seconds": seconds,
                "wall_seconds": sum(r["wall_seconds"] for r in side_runs),
                "real_tokens": tokens,
                "padding_share": 1 - tokens / sum(r["padded_tokens"] for r in side_runs),
                "final_train_loss": sum(last["losses"][-3:]) / len(last["losses"][-3:]),
                "heldout_loss": heldout_loss,
            }
            print(f"{name:8s} {summary[name]}", file=sys.stderr)
    result = {
        "throughput_ratio": summary["ours"]["tokens_per_second"] / summary["trainer"]["tokens_per_second"],
        "final_loss_ours": summary["ours"]["heldout_loss"],
        "final_loss_trainer": summary["trainer"]["heldout_loss"],
        "final_train_loss_ours": summary["ours"]["final_train_loss"],
        "final_train_loss_trainer": summary["trainer"]["final_train_loss"],
        "steps": args.steps,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "threads": args.threads,
        "ours": summary["ours"],
        "trainer": summary["trainer"],
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
