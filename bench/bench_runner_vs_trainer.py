"""Fine-tuning throughput: our runner (`harness.training.train_model`) against `transformers.Trainer`.

Same model (a preset encoder from `harness.backbones.build_model` plus a `harness.heads` head,
identical initial weights by `state_dict` copy), same tokenized rows, same batch size, same
number of optimizer steps (the training set is exactly `steps * batch_size` rows, so every
configuration sees every row once), same optimizer settings, no evaluation inside the timed
region. Three configurations run in one process, interleaved, `--repeats` times (best of):

- runner: dynamic padding (`InputPipeline.collate`) + `LengthGroupedSampler`, through Accelerate;
  timed by the runner's own `TrainResult.train_seconds` (the epoch loop only);
- Trainer, padded: the common `DataCollatorWithPadding(padding="max_length")` setup
  (the reference the target is stated against);
- Trainer, dynamic: `DataCollatorWithPadding()` (pad to longest) + length grouping — the
  like-for-like reference, which isolates the loop itself from the padding policy.

Trainer runs are timed by a callback from `on_epoch_begin` to `on_epoch_end`, the same region
the runner times. Examples and tokens are counted by one wrapper around each collator.

    python bench/bench_runner_vs_trainer.py                # synthetic text, or SST-2 when
                                                           # $TRANSFERBENCH_DATA_DIR is set
    python bench/bench_runner_vs_trainer.py --task rte --steps 12 --batch_size 16
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import dataclasses
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

TARGET = 1.3
SYNTH_CARD = """\
name: bench_text_varlen
version: 1
description: "Synthetic single-sentence task with widely varied lengths (throughput bench)."
modality: text
problem: classification
label_names: [negative, positive]
inputs: {{text: sentence}}
label: label
splits: {{train: train, validation: test, test: test}}
metrics: [accuracy]
primary_metric: accuracy
direction: max
tags: [synthetic, bench]
data:
  generator:
    function: tasks.generators.synthetic_text:generate
    kwargs: {{kind: single, length: [{lo}, {hi}], n_train: {n_train}, n_test: {n_test}}}
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=16, help="optimizer steps per run (default 16)")
    p.add_argument("--batch_size", type=int, default=32, help="per-device train batch size")
    p.add_argument("--backbone", default="bert-mini", help="a text preset (default bert-mini)")
    p.add_argument(
        "--max_length",
        type=int,
        default=None,
        help="truncation length for everyone and the Trainer's pad length "
        "(default: 64 for synthetic, 128 for GLUE, as in run_glue.py)",
    )
    p.add_argument(
        "--repeats", type=int, default=5, help="interleaved repeats, best of (default 5)"
    )
    p.add_argument(
        "--task",
        choices=["auto", "synthetic", "sst2", "rte"],
        default="auto",
        help="auto: sst2 when $TRANSFERBENCH_DATA_DIR (or --data_dir) has glue_data, else synthetic",
    )
    p.add_argument("--data_dir", default=None, help="folder holding glue_data/ (GLUE tasks)")
    p.add_argument(
        "--length",
        type=int,
        nargs=2,
        default=(4, 64),
        metavar=("MIN", "MAX"),
        help="synthetic sentence length range in words (default 4 64)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: steady under concurrent load; 0: torch's choice)",
    )
    p.add_argument("--learning_rate", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# -- data -------------------------------------------------------------------------------------
def load_data(args: argparse.Namespace, n_train: int, workdir: Path):
    """(card, TaskData, description) for the chosen task, with exactly `n_train` training rows."""
    from harness.data.loading import load_task, resolve_data_dir
    from harness.taskregistry import TaskRegistry

    data_dir = resolve_data_dir(args.data_dir)
    task = args.task
    if task == "auto":
        task = "sst2" if data_dir and (data_dir / "glue_data" / "SST-2").is_dir() else "synthetic"
    if task == "synthetic":
        lo, hi = args.length
        cards = workdir / "cards"
        cards.mkdir(parents=True, exist_ok=True)
        text = SYNTH_CARD.format(lo=lo, hi=hi, n_train=n_train, n_test=2 * args.batch_size)
        (cards / "bench_text_varlen.yaml").write_text(text)
        card = TaskRegistry([cards]).get("bench_text_varlen")
        return card, load_task(card), f"synthetic single-sentence, {lo}-{hi} words"
    if data_dir is None:
        raise SystemExit(f"--task {task} needs --data_dir or $TRANSFERBENCH_DATA_DIR (glue_data/)")
    card = TaskRegistry().get(task)
    data = load_task(card, data_dir)
    if len(data.train) < n_train:
        raise SystemExit(
            f"{task} has {len(data.train)} training rows; steps*batch_size={n_train} is too many"
        )
    train = data.train.shuffle(seed=args.seed).select(range(n_train))
    validation = data.validation.select(range(min(len(data.validation), 2 * args.batch_size)))
    fps = {
        **data.fingerprints,
        "train": f"{data.fingerprints['train']}-bench{args.seed}-{n_train}",
        "validation": f"{data.fingerprints['validation']}-bench{len(validation)}",
    }
    data = dataclasses.replace(data, train=train, validation=validation, fingerprints=fps)
    return card, data, f"GLUE {task.upper()} (local glue_data, {n_train} seeded train rows)"


# -- counting collator wrapper ------------------------------------------------------------------
class Counted:
    """Wraps a collator; records rows, padded tokens and real (attended) tokens per batch."""

    def __init__(self, collate: Any):
        self.collate = collate
        self.batches: list[tuple[int, int, int]] = []

    def reset(self) -> None:
        self.batches = []

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collate(rows)
        ids, mask = batch["input_ids"], batch.get("attention_mask")
        real = int(mask.sum()) if mask is not None else ids.numel()
        self.batches.append((ids.shape[0], ids.numel(), real))
        return batch

    def summary(self, rows: int | None = None) -> dict[str, int]:
        """Totals over the first batches covering `rows` rows (all batches when None): the
        runner's collator also serves the evaluation that follows its timed loop."""
        out = {"rows": 0, "tokens": 0, "real": 0}
        for n, tokens, real in self.batches:
            if rows is not None and out["rows"] >= rows:
                break
            out["rows"] += n
            out["tokens"] += tokens
            out["real"] += real
        return out


# -- the Trainer side ---------------------------------------------------------------------------
class ForTrainer(nn.Module):
    """An `EncoderWithHead` returning {"loss", "logits"}, as `Trainer` expects."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        inputs = {"input_ids": input_ids}
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        logits = self.model(**inputs)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = self.loss_fn(logits.float(), labels)
        return out


def trainer_args(args, workdir: Path, grouped: bool, cuda: bool):
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    extra: dict[str, Any] = {}
    if grouped:  # transformers 5 renamed group_by_length to train_sampling_strategy
        if "group_by_length" in fields:
            extra["group_by_length"] = True
        else:
            extra["train_sampling_strategy"] = "group_by_length"
    warmup = "warmup_ratio" if "warmup_ratio" in fields else "warmup_steps"  # <1: a ratio in v5
    return TrainingArguments(
        output_dir=str(workdir / "trainer"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        use_cpu=not cuda,
        dataloader_num_workers=0,
        seed=args.seed,
        # the runner's budget, so both train the same way (none of these changes the speed)
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        max_grad_norm=1.0,
        lr_scheduler_type="linear",
        **{warmup: 0.1},
        disable_tqdm=True,
        **extra,
    )


def run_trainer(model, train_set, collator: Counted, targs, tokenizer) -> tuple[float, int]:
    from transformers import PrinterCallback, Trainer, TrainerCallback

    class EpochTimer(TrainerCallback):
        seconds = 0.0
        _t0 = 0.0

        def on_epoch_begin(self, *a, **k):
            _sync()
            self._t0 = time.perf_counter()

        def on_epoch_end(self, *a, **k):
            _sync()  # the runner's per-step finiteness check already waits for the device
            self.seconds += time.perf_counter() - self._t0

    timer = EpochTimer()
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=train_set,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)  # no end-of-training log line on stdout
    collator.reset()
    trainer.train()
    steps = trainer.state.global_step
    del trainer
    return timer.seconds, steps


# -- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    import transformers
    from accelerate import Accelerator
    from transformers import DataCollatorWithPadding

    from harness.backbones import BACKBONES, BackboneSpec, build_model
    from harness.cache import Cache
    from harness.heads import EncoderWithHead, build_head, loss_for
    from harness.preprocess import build_pipeline, encode_split
    from harness.spec import Budget
    from harness.training import train_model

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    _quiet_runner_progress_bar()
    if args.backbone not in BACKBONES or BACKBONES.get(args.backbone).modality != "text":
        text = [n for n in BACKBONES.names() if BACKBONES.get(n).modality == "text"]
        raise SystemExit(f"--backbone must be a text preset: {', '.join(text)}")
    workdir = Path(tempfile.mkdtemp(prefix="tb-bench-"))
    try:
        n_train = args.steps * args.batch_size
        card, data, described = load_data(args, n_train, workdir)
        if args.max_length is None:
            args.max_length = 64 if card.name == "bench_text_varlen" else 128
        spec = BackboneSpec(name=args.backbone, max_length=args.max_length)
        cache = Cache(workdir, Accelerator(cpu=not torch.cuda.is_available()))
        pipeline = build_pipeline(spec, [data], cache)
        train_set = encode_split(pipeline, data, "train", cache)
        val_set = encode_split(pipeline, data, "validation", cache)
        lengths = [len(x) for x in train_set["input_ids"]]

        cuda = torch.cuda.is_available()
        device = "cuda" if cuda else "cpu"
        encoder = build_model(spec, pipeline.vocab_size, seed=args.seed)
        template = EncoderWithHead(encoder, build_head(card, encoder.feature_dim))
        init_state = {k: v.clone() for k, v in template.state_dict().items()}

        def fresh() -> EncoderWithHead:
            enc = build_model(spec, pipeline.vocab_size, seed=args.seed + 1)
            model = EncoderWithHead(enc, build_head(card, enc.feature_dim))
            model.load_state_dict(init_state)  # identical initial weights everywhere
            return model

        budget = Budget(
            num_train_epochs=1, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=2 * args.batch_size, learning_rate=args.learning_rate,
            weight_decay=0.01, warmup_ratio=0.1, lr_scheduler_type="linear", max_grad_norm=1.0,
            group_by_length=True,
        )  # fmt: skip
        runner_collate = Counted(pipeline.collate)
        padded_collate = Counted(
            DataCollatorWithPadding(
                pipeline.tokenizer, padding="max_length", max_length=args.max_length
            )
        )
        dynamic_collate = Counted(DataCollatorWithPadding(pipeline.tokenizer))

        def run(config: str) -> tuple[float, dict[str, int], int]:
            torch.manual_seed(args.seed)
            if config == "runner":
                runner_collate.reset()
                # TrainingArguments resets Accelerate's shared state, so the runner gets a
                # fresh Accelerator per run (outside the timed region, as in a real run)
                accelerator = Accelerator(cpu=not cuda)
                result = train_model(
                    fresh(), card, train_set, val_set, val_set, runner_collate, budget,
                    accelerator, args.seed, lengths=lengths, desc="runner",
                )  # fmt: skip
                # evaluation ran after the timed loop; count only the training rows
                counts = runner_collate.summary(result.train_examples)
                return result.train_seconds, counts, result.steps
            collate = padded_collate if config == "padded" else dynamic_collate
            model = ForTrainer(fresh(), loss_for(card))
            seconds, steps = run_trainer(
                model,
                train_set,
                collate,
                trainer_args(args, workdir, config == "dynamic", cuda),
                pipeline.tokenizer,
            )
            return seconds, collate.summary(), steps

        configs = ["runner", "padded", "dynamic"]
        results: dict[str, list[tuple[float, dict[str, int], int]]] = {c: [] for c in configs}
        print(
            f"runner vs transformers.Trainer: {args.backbone}, {described}; {n_train} rows = "
            f"{args.steps} steps x batch {args.batch_size}; max_length {args.max_length}; "
            f"device {device} ({torch.get_num_threads()} threads); "
            f"transformers {transformers.__version__}; best of {args.repeats}, interleaved",
            flush=True,
        )
        mean_len = sum(lengths) / len(lengths)
        print(
            f"tokenized lengths: mean {mean_len:.1f}, min {min(lengths)}, max {max(lengths)} tokens",
            flush=True,
        )
        warm_up(fresh(), loss_for(card), train_set, args.batch_size,
                [pipeline.collate, padded_collate.collate, dynamic_collate.collate])  # fmt: skip
        for r in range(args.repeats):
            order = configs[r % 3 :] + configs[: r % 3]  # rotate who goes first
            for config in order:
                seconds, counts, steps = run(config)
                if steps != args.steps or counts["rows"] != n_train:
                    raise SystemExit(
                        f"{config} ran {steps} optimizer steps on {counts['rows']} rows, "
                        f"not {args.steps} on {n_train}"
                    )
                results[config].append((seconds, counts, steps))
                print(
                    f"  repeat {r + 1} {config:8s} {counts['rows'] / seconds:8.1f} examples/s "
                    f"({seconds:.2f} s)",
                    flush=True,
                )
        report(args, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def warm_up(model: nn.Module, loss_fn: nn.Module, train_set, batch_size: int, collates) -> None:
    """Untimed forward/backward passes on every batch shape policy, so no configuration pays the
    process's one-time costs (allocator growth, kernel selection) inside its timed region."""
    rows = [train_set[i] for i in range(min(len(train_set), batch_size))]
    model.train()
    for collate in collates:
        batch = collate(rows)
        labels = batch.pop("labels")
        loss_fn(model(**batch).float(), labels).backward()
    model.zero_grad()


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _quiet_runner_progress_bar() -> None:
    """No progress bars on either side: the Trainer gets `disable_tqdm=True`; the runner's bar is
    switched off here (display only; the loop itself is untouched)."""
    from tqdm.auto import tqdm

    import harness.training

    harness.training.tqdm = lambda *a, **k: tqdm(*a, **{**k, "disable": True})


LABELS = {
    "runner": "runner (train_model: dynamic pad + LengthGroupedSampler, Accelerate)",
    "padded": "Trainer, DataCollatorWithPadding(padding='max_length')",
    "dynamic": "Trainer, DataCollatorWithPadding() + group_by_length",
}


def report(args: argparse.Namespace, results: dict[str, list]) -> None:
    best = {}
    print()
    print(f"{'configuration':72s} {'examples/s':>10s} {'tok/row':>8s} {'real tok':>8s}")
    for config, runs in results.items():
        rates = [counts["rows"] / s for s, counts, _ in runs]
        best[config] = max(rates)
        counts = runs[0][1]
        print(
            f"{LABELS[config]:72s} {best[config]:10.1f} {counts['tokens'] / counts['rows']:8.1f} "
            f"{counts['real'] / counts['tokens']:8.0%}"
        )
    paired = {
        ref: [
            (results["runner"][i][1]["rows"] / results["runner"][i][0])
            / (results[ref][i][1]["rows"] / results[ref][i][0])
            for i in range(args.repeats)
        ]
        for ref in ("padded", "dynamic")
    }
    print()
    ratio = best["runner"] / best["padded"]
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(
        f"runner / Trainer(padded to max_length):         {ratio:5.2f}x  "
        f"(per repeat {_span(paired['padded'])}; target >= {TARGET}x: {verdict})"
    )
    print(
        f"runner / Trainer(dynamic pad + group_by_length): {best['runner'] / best['dynamic']:5.2f}x  "
        f"(per repeat {_span(paired['dynamic'])}; like-for-like loop reference, no target)"
    )
    print(
        "\nFairness: same model and initial weights, same tokenized rows (each seen once), batch "
        "size, optimizer steps and AdamW settings; nothing but training in the timed region "
        "(runner: TrainResult.train_seconds; Trainer: on_epoch_begin..on_epoch_end). The first "
        "ratio is against the common padded-to-max_length setup, so most of it is padding "
        "the runner does not compute ('tok/row' and 'real tok' columns); the second is the "
        "like-for-like comparison of the loops. The Trainer keeps its default optimizer "
        "implementation."
    )


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}, median {statistics.median(values):.2f}"


if __name__ == "__main__":
    main()
