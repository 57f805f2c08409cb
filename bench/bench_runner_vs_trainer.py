"""Fine-tuning throughput: our runner (`harness.training.train_model`) against `transformers.Trainer`.

Same model (a backbone from `harness.backbones.build_model` plus a `harness.heads` head,
identical initial weights by `state_dict` copy), same tokenized rows, same batch size, number
of optimizer steps, learning rate, optimizer settings and precision (float32), no evaluation
inside the timed region. Three configurations run in one process, interleaved (the order
rotates each repeat), `--repeats` times; the median and the spread are printed:

- runner: dynamic padding (`InputPipeline.collate`) + `LengthGroupedSampler`, through Accelerate;
  timed by the runner's own `TrainResult.train_seconds` (the epoch loop only);
- Trainer, dynamic (**the reference**, what a practitioner configures):
  `DataCollatorWithPadding()` (pad to the longest in a batch) + `group_by_length`;
- Trainer, padded: `DataCollatorWithPadding(padding="max_length")` (`run_glue.py`'s default).

Trainer runs are timed by a callback from `on_epoch_begin` to `on_epoch_end`, the same region
the runner times. After each run, outside the timed region, every model is scored on the
task's dev split by one shared evaluation, so a faster loop that learns less shows.
The Trainer side is in `trainer_reference.py`; the counts and the report in
`runner_vs_trainer_report.py` (both beside this file).

    python bench/bench_runner_vs_trainer.py --task rte      # MiniLM on real RTE (~10 min)
    python bench/bench_runner_vs_trainer.py --task mrpc
    python bench/bench_runner_vs_trainer.py --task synthetic --backbone bert-mini --steps 16
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the helper modules beside this file, whether it runs as a script or is loaded by its path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse
import dataclasses
import logging
import math
import shutil
import tempfile
from pathlib import Path

import torch
from runner_vs_trainer_report import Counted, dev_scores, report
from torch import nn
from trainer_reference import ForTrainer, run_trainer, trainer_args

MINILM = "models/all-MiniLM-L6-v2"
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
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimizer steps per run (default: --epochs over the whole training "
        "split; 16 for synthetic)",
    )
    p.add_argument("--epochs", type=int, default=1, help="epochs when --steps is not given")
    p.add_argument("--batch_size", type=int, default=32, help="per-device train batch size")
    p.add_argument(
        "--backbone",
        default="auto",
        help="a text preset or a model folder (auto: the MiniLM encoder in the data "
        f"folder's {MINILM} for GLUE tasks, else bert-mini)",
    )
    p.add_argument(
        "--max_length",
        type=int,
        default=None,
        help="truncation length for everyone and the Trainer's pad length "
        "(default: 64 for synthetic, 128 for GLUE, as in run_glue.py)",
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="interleaved repeats, median of (default 3)"
    )
    p.add_argument(
        "--task",
        choices=["auto", "synthetic", "sst2", "rte", "mrpc"],
        default="auto",
        help="auto: rte when $TRANSFERBENCH_DATA_DIR (or --data_dir) has glue_data, else synthetic",
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
    p.add_argument(
        "--learning_rate",
        type=float,
        default=None,
        help="default: 5e-5 for a pretrained model (Trainer's default), 5e-4 for a "
        "randomly initialised preset",
    )
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# -- data -------------------------------------------------------------------------------------
def load_data(args: argparse.Namespace, workdir: Path):
    """(card, TaskData, description): the training split (all of it, or `steps * batch_size`
    seeded rows) and the dev split the models are scored on."""
    from harness.data.loading import load_task
    from harness.taskregistry import TaskRegistry

    task = args.task
    if task == "synthetic":
        lo, hi = args.length
        cards = workdir / "cards"
        cards.mkdir(parents=True, exist_ok=True)
        n_train = args.steps * args.batch_size
        text = SYNTH_CARD.format(lo=lo, hi=hi, n_train=n_train, n_test=4 * args.batch_size)
        (cards / "bench_text_varlen.yaml").write_text(text)
        card = TaskRegistry([cards]).get("bench_text_varlen")
        return card, load_task(card), f"synthetic single-sentence, {lo}-{hi} words"
    card = TaskRegistry().get(task)
    data = load_task(card, args.data_dir)
    train = data.train.shuffle(seed=args.seed)
    if args.steps is not None:
        n_train = args.steps * args.batch_size
        if len(train) < n_train:
            raise SystemExit(
                f"{task} has {len(train)} training rows; steps*batch_size={n_train} is too many"
            )
        train = train.select(range(n_train))
    fps = {
        **data.fingerprints,
        "train": f"{data.fingerprints['train']}-bench{args.seed}-{len(train)}",
    }
    data = dataclasses.replace(data, train=train, fingerprints=fps)
    return card, data, f"GLUE {task.upper()} (local glue_data, {len(train)} training rows)"


def resolve_defaults(args: argparse.Namespace) -> None:
    """Fill in --task, --backbone, --steps and --learning_rate from what is at hand."""
    from harness.backbones import BackboneSpec
    from harness.data.loading import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    if args.task == "auto":
        glue = data_dir is not None and (data_dir / "glue_data" / "RTE").is_dir()
        args.task = "rte" if glue else "synthetic"
    if args.task != "synthetic" and data_dir is None:
        raise SystemExit(f"--task {args.task} needs --data_dir or $TRANSFERBENCH_DATA_DIR")
    if args.backbone == "auto":
        minilm = data_dir / MINILM if data_dir else None
        glue = args.task != "synthetic"
        args.backbone = str(minilm) if glue and minilm and minilm.is_dir() else "bert-mini"
    if args.task == "synthetic" and args.steps is None:
        args.steps = 16
    if args.learning_rate is None:
        args.learning_rate = 5e-4 if BackboneSpec(name=args.backbone).is_preset else 5e-5


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
    from harness.training import make_eval_loader, train_model

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    _quiet_runner_progress_bar()
    resolve_defaults(args)
    preset = BackboneSpec(name=args.backbone).is_preset
    if preset and BACKBONES.get(args.backbone).modality != "text":
        text = [n for n in BACKBONES.names() if BACKBONES.get(n).modality == "text"]
        raise SystemExit(f"--backbone must be a text preset or a model folder: {', '.join(text)}")
    workdir = Path(tempfile.mkdtemp(prefix="tb-bench-"))
    try:
        card, data, described = load_data(args, workdir)
        if args.max_length is None:
            args.max_length = 64 if card.name == "bench_text_varlen" else 128
        spec = BackboneSpec(name=args.backbone, max_length=args.max_length)
        cache = Cache(workdir, Accelerator(cpu=not torch.cuda.is_available()))
        pipeline = build_pipeline(spec, [data], cache)
        train_set = encode_split(pipeline, data, "train", cache)
        dev_set = encode_split(pipeline, data, "test", cache)  # GLUE's dev split
        lengths = [len(x) for x in train_set["input_ids"]]
        per_epoch = math.ceil(len(train_set) / args.batch_size)
        steps = args.steps if args.steps is not None else per_epoch * args.epochs
        epochs = math.ceil(steps / per_epoch)
        rows = min(steps * args.batch_size, epochs * len(train_set))

        cuda = torch.cuda.is_available()
        device = "cuda" if cuda else "cpu"
        encoder = build_model(spec, pipeline.vocab_size, seed=args.seed)
        template = EncoderWithHead(encoder, build_head(card, encoder.feature_dim))
        init_state = {k: v.clone() for k, v in template.state_dict().items()}
        del template, encoder

        def fresh() -> EncoderWithHead:
            enc = build_model(spec, pipeline.vocab_size, seed=args.seed + 1)
            model = EncoderWithHead(enc, build_head(card, enc.feature_dim))
            model.load_state_dict(init_state)  # identical initial weights everywhere
            return model

        budget = Budget(
            num_train_epochs=epochs,
            max_steps=steps,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=2 * args.batch_size,
            learning_rate=args.learning_rate,
            weight_decay=0.01,
            warmup_ratio=0.1,
            lr_scheduler_type="linear",
            max_grad_norm=1.0,
            group_by_length=True,
        )
        # the runner's own per-epoch validation runs outside its timed loop; keep it short
        val_set = train_set.select(range(min(len(train_set), args.batch_size)))
        runner_collate = Counted(pipeline.collate)
        padded_collate = Counted(
            DataCollatorWithPadding(
                pipeline.tokenizer, padding="max_length", max_length=args.max_length
            )
        )
        dynamic_collate = Counted(DataCollatorWithPadding(pipeline.tokenizer))

        def score(model: nn.Module) -> dict[str, float]:
            """One evaluation for every configuration: the dev split, length-sorted batches."""
            from harness.training import evaluate_loader

            accelerator = Accelerator(cpu=not cuda)
            loader = make_eval_loader(dev_set, pipeline.collate, budget)
            model, loader = accelerator.prepare(model, loader)
            return evaluate_loader(model, loader, card, accelerator)

        def run(config: str) -> tuple[float, dict[str, int], int, dict[str, float]]:
            torch.manual_seed(args.seed)
            if config == "runner":
                runner_collate.reset()
                # TrainingArguments resets Accelerate's shared state, so the runner gets a
                # fresh Accelerator per run (outside the timed region, as in a real run)
                accelerator = Accelerator(cpu=not cuda)
                model = fresh()
                result = train_model(
                    model,
                    card,
                    train_set,
                    val_set,
                    val_set,
                    runner_collate,
                    budget,
                    accelerator,
                    args.seed,
                    lengths=lengths,
                    desc="runner",
                )
                # its validation ran after each timed epoch; count only the training rows
                counts = runner_collate.summary(result.train_examples)
                return result.train_seconds, counts, result.steps, score(model)
            collate = padded_collate if config == "padded" else dynamic_collate
            model = ForTrainer(fresh(), loss_for(card))
            seconds, done = run_trainer(
                model,
                train_set,
                collate,
                trainer_args(args, workdir, config == "dynamic", cuda, steps),
                pipeline.tokenizer,
            )
            return seconds, collate.summary(), done, score(model.model)

        configs = ["runner", "dynamic", "padded"]
        results: dict[str, list[tuple[float, dict[str, int], int, dict[str, float]]]] = {
            c: [] for c in configs
        }
        name = Path(args.backbone).name if not preset else args.backbone
        print(
            f"runner vs transformers.Trainer: {name}, {described}; {steps} steps x batch "
            f"{args.batch_size} ({rows} rows); lr {args.learning_rate:g}; max_length "
            f"{args.max_length}; float32; device {device} ({torch.get_num_threads()} threads); "
            f"transformers {transformers.__version__}; {args.repeats} interleaved repeats",
            flush=True,
        )
        mean_len = sum(lengths) / len(lengths)
        print(
            f"tokenized lengths: mean {mean_len:.1f}, min {min(lengths)}, max {max(lengths)} tokens",
            flush=True,
        )
        warm_up(
            fresh(),
            loss_for(card),
            train_set,
            args.batch_size,
            [pipeline.collate, padded_collate.collate, dynamic_collate.collate],
        )
        for r in range(args.repeats):
            order = configs[r % 3 :] + configs[: r % 3]  # rotate who goes first
            for config in order:
                seconds, counts, done, dev = run(config)
                if done != steps or counts["rows"] != rows:
                    raise SystemExit(
                        f"{config} ran {done} optimizer steps on {counts['rows']} rows, "
                        f"not {steps} on {rows}"
                    )
                results[config].append((seconds, counts, done, dev))
                print(
                    f"  repeat {r + 1} {config:8s} {counts['rows'] / seconds:8.1f} examples/s "
                    f"({seconds:.2f} s); dev {dev_scores(card, dev)}",
                    flush=True,
                )
        report(args, card, results, len(dev_set))
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


def _quiet_runner_progress_bar() -> None:
    """No progress bars on either side: the Trainer gets `disable_tqdm=True`; the runner's bar is
    switched off here (display only; the loop itself is untouched)."""
    from tqdm.auto import tqdm

    import harness.training

    harness.training.tqdm = lambda *a, **k: tqdm(*a, **{**k, "disable": True})


if __name__ == "__main__":
    main()
