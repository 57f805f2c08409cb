"""The one training and evaluation loop, for one task or many, on Accelerate: CPU, one GPU
or many, unchanged.

`train_tasks` trains a model on a *task set*: each task brings its splits and collate
(`TaskSplits`); every batch comes from one task, in the order a task schedule gives (the
default, `one_pass`, is MT-DNN's: every batch of every task once per epoch, shuffled); the
model gets the task's name when it has one head per task (`takes_task`). The loss, the
optimizer and the schedule are arguments (hooks). Each epoch every task is evaluated on its
validation split; the best epoch is chosen on the mean over tasks of the primary metric
(signed so higher is better) or per task, and restored before each task's scored split is
evaluated. `train_model` is the case of a set of one. `accelerator.prepare` once per run,
gradient accumulation, `gather_for_metrics` into the metric, warm-up + decay schedule.

On a GPU: `prepare` runs the model's forward under the accelerator's autocast (bf16 with
`--mixed_precision bf16`) and hands back float32 outputs, so losses are computed in float32;
it also compiles the model when the accelerator was made with `torch_compile` (see
`harness.runner.make_accelerator`). AdamW is fused; loaders pin host memory (image rows are
loaded by worker processes); the hot loop reads nothing back from the device: losses add up
there and are read every `CHECK_EVERY` batches and once per epoch. The CPU path is unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from harness.cards import TaskCard
from harness.heads import loss_for, predictions_from, task_head
from harness.hostmemory import onednn_enabled, onednn_pays
from harness.metrics import compute_metrics
from harness.progress import bar as progress_bar
from harness.spec import Budget

logger = logging.getLogger(__name__)


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


NON_INPUTS = ("labels", "task", "soft_targets")  # batch columns the model does not take
# what training computes: part of the cache keys of trained models (sources, task sets, teachers),
# so a change to what the loop trains never serves weights trained the old way. 2: regression
# heads in standard units (`TaskHead.calibrate`)
TRAINING_VERSION = 2
CHECK_EVERY = 32  # on a GPU, batches between reads of the loss (each is a host-device sync)


@dataclass
class TaskSplits:
    """One task of a task set: its card, encoded splits, collate and (text) row lengths."""

    card: TaskCard
    train: Dataset
    validation: Dataset
    test: Dataset
    collate: Callable
    lengths: Sequence[int] | None = None

    @property
    def name(self) -> str:
        return self.card.name


LossFn = Callable[[torch.Tensor, dict[str, Any], TaskCard], torch.Tensor]
OptimizerFactory = Callable[[list[dict[str, Any]], Budget], torch.optim.Optimizer]
TaskSchedule = Callable[[dict[str, int], int, int], list[str]]


def supervised_loss(outputs: torch.Tensor, batch: dict[str, Any], card: TaskCard) -> torch.Tensor:
    """Cross-entropy on class labels, or mean squared error for regression."""
    labels = batch["labels"]
    return loss_for(card)(
        outputs.float(), labels.float() if card.problem == "regression" else labels
    )


def adamw(param_groups: list[dict[str, Any]], budget: Budget) -> torch.optim.Optimizer:
    """AdamW with torch's fused kernels (one pass over each parameter, on a GPU and on the CPU;
    `Trainer`'s default `adamw_torch_fused` too) when every parameter sits on one kind of
    device that has them; else torch's default implementation."""
    groups = [
        {**g, "params": [g["params"]] if torch.is_tensor(g["params"]) else list(g["params"])}
        for g in param_groups
    ]
    kinds = {p.device.type for g in groups for p in g["params"]}
    fused = len(kinds) == 1 and kinds <= {"cuda", "cpu"}
    return torch.optim.AdamW(
        groups, lr=budget.learning_rate, weight_decay=budget.weight_decay, fused=fused or None
    )


def one_pass(batches: dict[str, int], epoch: int, seed: int) -> list[str]:
    """Every batch of every task once, in a seeded random order (MT-DNN's epoch). The same
    on every process: it depends on the batch counts, the epoch and the seed only."""
    order = [name for name in sorted(batches) for _ in range(batches[name])]
    if len(batches) == 1:
        return order
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return [order[i] for i in torch.randperm(len(order), generator=g).tolist()]


@dataclass
class LoopState:
    """What a step hook sees after each optimizer step."""

    step: int
    epoch: int
    model: nn.Module  # unwrapped
    accelerator: Any
    tasks: dict[str, TaskSplits]


@dataclass
class TrainResult:
    """Scores on the scored split from the best epoch, and how training went."""

    test_metrics: dict[str, float]
    primary: float
    best_epoch: int
    validation_metrics: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    train_examples: int = 0
    train_seconds: float = 0.0
    learning_rates: list[float] = field(default_factory=list)  # first group's rate after each step
    tasks: dict[str, TrainResult] = field(default_factory=dict)  # per task, for a task set
    # the trained model, with its best epoch's weights (`train_model`, `ctx.train`); not recorded
    model: Any = field(default=None, repr=False, compare=False)

    @property
    def throughput(self) -> float:
        return self.train_examples / self.train_seconds if self.train_seconds > 0 else 0.0


class LengthGroupedSampler(Sampler[int]):
    """Shuffle, then sort within mega-batches by length so each batch pads little."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, mega: int = 50):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega = mega
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        size = self.batch_size * self.mega
        chunks = [
            sorted(order[i : i + size], key=lambda j: -self.lengths[j])
            for i in range(0, len(order), size)
        ]
        batches = [
            c[i : i + self.batch_size] for c in chunks for i in range(0, len(c), self.batch_size)
        ]
        if not batches:
            return iter([])
        perm = torch.randperm(len(batches), generator=g).tolist()
        # the batch holding the longest row goes first (as in transformers' sampler): the run's
        # largest activations are allocated on a fresh heap, and an out-of-memory shows at once
        longest = max(range(len(batches)), key=lambda b: self.lengths[batches[b][0]])
        perm.remove(longest)
        return iter([i for b in [longest, *perm] for i in batches[b]])


def loader_options(dataset: Dataset, cuda: bool, processes: int = 1) -> dict[str, Any]:
    """DataLoader settings for a GPU: pinned host memory (the prepared loaders then copy each
    batch without waiting for it) and, for image rows (decoded from Arrow one by one), worker
    processes. On the CPU, none: batches are made in the main process."""
    if not cuda:
        return {}
    images = "pixel_values" in (getattr(dataset, "column_names", None) or ())
    workers = max(1, min(4, (os.cpu_count() or 2) // (2 * processes))) if images else 0
    return {"pin_memory": True, "num_workers": workers, "persistent_workers": workers > 0}


def make_train_loader(
    dataset: Dataset,
    collate: Callable,
    budget: Budget,
    seed: int,
    lengths: Sequence[int] | None,
    **options: Any,
) -> DataLoader:
    if lengths is not None and budget.group_by_length:
        sampler = LengthGroupedSampler(lengths, budget.per_device_train_batch_size, seed)
        return DataLoader(
            dataset,
            batch_size=budget.per_device_train_batch_size,
            sampler=sampler,
            collate_fn=collate,
            **options,
        )
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=budget.per_device_train_batch_size,
        shuffle=True,
        collate_fn=collate,
        generator=g,
        **options,
    )


def make_eval_loader(
    dataset: Dataset, collate: Callable, budget: Budget, **options: Any
) -> DataLoader:
    """Evaluation batches in length order (text), so little padding is computed; predictions
    and references stay paired, so metrics don't depend on the order."""
    lengths = None
    if sys.modules.get("datasets"):  # else `dataset` is no Arrow split (and may be uninstalled)
        from harness.preprocess import row_lengths

        lengths = row_lengths(dataset)
    order = sorted(range(len(dataset)), key=lengths.__getitem__) if lengths else None
    return DataLoader(
        dataset,
        batch_size=budget.per_device_eval_batch_size,
        sampler=order,
        collate_fn=collate,
        **options,
    )


def _forward(model: nn.Module, batch: dict[str, Any], task: str, takes_task: bool) -> torch.Tensor:
    inputs = {k: v for k, v in batch.items() if k not in NON_INPUTS}
    return model(task=task, **inputs) if takes_task else model(**inputs)


def _takes_task(model: nn.Module, accelerator: Any) -> bool:
    unwrap = getattr(accelerator, "unwrap_model", None)
    return bool(getattr(unwrap(model) if unwrap else model, "takes_task", False))


def _unwrap(model: nn.Module, accelerator: Any) -> nn.Module:
    """The model as built: without the accelerator's wrappers nor `torch.compile`'s."""
    model = accelerator.unwrap_model(model)
    return getattr(model, "_orig_mod", model)


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, card: TaskCard, accelerator: Any, task: str | None = None
) -> tuple[list, list]:
    """Predictions and references over a prepared loader, gathered from every process."""
    model.eval()
    takes_task = _takes_task(model, accelerator)
    preds, refs = [], []
    for batch in loader:
        labels = batch["labels"]
        out = _forward(model, batch, task, takes_task)
        p, r = accelerator.gather_for_metrics((predictions_from(card, out), labels))
        preds.append(p)
        refs.append(r)
    return torch.cat(preds).cpu().tolist(), torch.cat(refs).cpu().tolist()  # one read per pass


@torch.no_grad()
def predict_outputs(
    model: nn.Module,
    dataset: Dataset,
    collate: Callable,
    accelerator: Any,
    batch_size: int = 128,
    task: str | None = None,
) -> torch.Tensor:
    """The model's raw outputs (logits, or values for regression) for every row of `dataset`,
    in row order, on this process alone (no sharding: every process gets the whole tensor)."""
    model = accelerator.unwrap_model(model).to(accelerator.device).eval()
    takes_task = bool(getattr(model, "takes_task", False))
    outs = []
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with accelerator.autocast():
            outs.append(_forward(model, batch, task, takes_task).float().cpu())
    return torch.cat(outs)


def evaluate_loader(
    model: nn.Module, loader: DataLoader, card: TaskCard, accelerator: Any, task: str | None = None
) -> dict[str, float]:
    preds, refs = predict(model, loader, card, accelerator, task)
    return compute_metrics(card, preds, refs)


def train_model(
    model: nn.Module,
    card: TaskCard,
    train_set: Dataset,
    validation_set: Dataset,
    test_set: Dataset,
    collate: Callable,
    budget: Budget,
    accelerator: Any,
    seed: int,
    param_groups: list[dict[str, Any]] | None = None,
    lengths: Sequence[int] | None = None,
    desc: str = "train",
    **hooks: Any,
) -> TrainResult:
    """Train `model` on one task: `train_tasks` with a task set of one."""
    task = TaskSplits(card, train_set, validation_set, test_set, collate, lengths)
    result = train_tasks(
        model, [task], budget, accelerator, seed, param_groups=param_groups, desc=desc, **hooks
    )
    out = result.tasks[card.name]
    out.model = model
    return out


def train_tasks(
    model: nn.Module,
    tasks: Sequence[TaskSplits],
    budget: Budget,
    accelerator: Any,
    seed: int,
    *,
    param_groups: list[dict[str, Any]] | None = None,
    loss: LossFn = supervised_loss,
    optimizer: OptimizerFactory = adamw,
    schedule: TaskSchedule = one_pass,
    select: str = "mean",
    step_hooks: Sequence[Callable[[LoopState], None]] = (),
    desc: str = "train",
) -> TrainResult:
    """Train `model` on a task set; select the best epoch on validation (`select`: "mean" over
    tasks, or "per_task"), then score each task's test split. The result's `tasks` holds one
    `TrainResult` per task; its own scores are the means over tasks."""
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    if select not in ("mean", "per_task"):
        raise ValueError(f"select must be 'mean' or 'per_task', got {select!r}")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"a task set names a task twice: {names}")
    set_seed(seed)
    by_name = {t.name: t for t in tasks}
    procs = max(1, accelerator.num_processes)
    cuda = accelerator.device.type == "cuda"

    def opts(dataset: Dataset) -> dict[str, Any]:
        return loader_options(dataset, cuda, procs)

    train_loaders = {
        t.name: make_train_loader(t.train, t.collate, budget, seed, t.lengths, **opts(t.train))
        for t in tasks
    }
    val_loaders = {
        t.name: make_eval_loader(t.validation, t.collate, budget, **opts(t.validation))
        for t in tasks
    }
    test_loaders = {
        t.name: make_eval_loader(t.test, t.collate, budget, **opts(t.test)) for t in tasks
    }
    if budget.gradient_checkpointing:
        _enable_checkpointing(model)
    weights = calibrate_heads(model, tasks)
    model.to(accelerator.device)  # before the optimizer is made, so it sees where parameters live
    params = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}]
    opt = optimizer(params, budget)

    batches = {n: math.ceil(len(loader) / procs) for n, loader in train_loaders.items()}
    steps_per_epoch = math.ceil(
        len(schedule(batches, 0, seed)) / budget.gradient_accumulation_steps
    )
    total = steps_per_epoch * math.ceil(budget.num_train_epochs)
    if budget.max_steps > 0:
        total = min(total, budget.max_steps) if budget.num_train_epochs > 0 else budget.max_steps
    epochs = max(1, math.ceil(total / max(1, steps_per_epoch)))
    # a prepared scheduler steps once per process for each optimizer step (Accelerate's
    # AcceleratedScheduler), so its horizon counts process-steps: warm-up and decay then span
    # the whole run on any number of processes
    scheduler = get_scheduler(
        budget.lr_scheduler_type,
        opt,
        num_warmup_steps=int(budget.warmup_ratio * total) * procs,
        num_training_steps=total * procs,
    )
    # accumulation is counted here, not by `accelerator.accumulate`, whose end-of-loader sync
    # assumes one loader per epoch; a task set interleaves several
    accelerator.gradient_accumulation_steps = 1
    order = list(names)
    prepared = accelerator.prepare(
        model,
        opt,
        scheduler,
        *[train_loaders[n] for n in order],
        *[val_loaders[n] for n in order],
        *[test_loaders[n] for n in order],
    )
    model, opt, scheduler = prepared[:3]
    k = len(order)
    loaders = {
        "train": dict(zip(order, prepared[3 : 3 + k])),
        "validation": dict(zip(order, prepared[3 + k : 3 + 2 * k])),
        "test": dict(zip(order, prepared[3 + 2 * k :])),
    }
    try:
        with (
            onednn_enabled(onednn_pays(model, accelerator)),
            tempfile.TemporaryDirectory(prefix="transferbench-best-") as spill,
        ):
            return _fit(
                model,
                opt,
                scheduler,
                loaders,
                by_name,
                budget,
                accelerator,
                total,
                epochs,
                seed,
                weighted(loss, weights),
                schedule,
                select,
                step_hooks,
                desc,
                Path(spill),
            )
    finally:
        accelerator.free_memory()


def split_labels(dataset: Dataset) -> torch.Tensor:
    """A split's labels, read without collating its inputs."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = (
            dataset["labels"]
            if "labels" in getattr(dataset, "column_names", ())
            else [dataset[i]["labels"] for i in range(len(dataset))]
        )
    return torch.as_tensor(labels if torch.is_tensor(labels) else list(labels), dtype=torch.float32)


def calibrate_heads(model: nn.Module, tasks: Sequence[TaskSplits]) -> dict[str, float]:
    """Give every regression head that has not been trained yet the units of its task's training
    labels (`TaskHead.calibrate`), and return each regression task's loss weight, 1 / scale²,
    so that its squared error counts in standard units, like a classification loss."""
    weights = {}
    for t in tasks:
        head = task_head(model, t.name)
        if head is None or not head.regression:
            continue
        head.calibrate(split_labels(t.train))
        weights[t.name] = head.loss_weight()
    return weights


def weighted(loss: LossFn, weights: dict[str, float]) -> LossFn:
    """`loss` times the task's weight (tasks without one: 1)."""
    if not weights:
        return loss

    def scaled(outputs: torch.Tensor, batch: dict[str, Any], card: TaskCard) -> torch.Tensor:
        value = loss(outputs, batch, card)
        w = weights.get(card.name)
        return value if w is None else value * w

    return scaled


def _enable_checkpointing(model: nn.Module) -> None:
    from harness.backbones import Encoder
    from harness.errors import ConfigError

    encoders = [m for m in model.modules() if isinstance(m, Encoder)]
    if not encoders:
        raise ConfigError(
            "budget field 'gradient_checkpointing': this model has no encoder to checkpoint"
        )
    for encoder in encoders:
        encoder.enable_gradient_checkpointing()


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    """Raise `DivergedError` once the summed loss is NaN or infinite (reads it from the device)."""
    if not torch.isfinite(loss_sum):
        raise DivergedError(f"loss became {loss_sum.item()} at epoch {epoch}, step {step}")


def _selection_score(card: TaskCard, value: float) -> float:
    return value if card.direction == "max" else -value


def _fit(
    model,
    opt,
    scheduler,
    loaders: dict[str, dict[str, Any]],
    tasks: dict[str, TaskSplits],
    budget: Budget,
    accelerator: Any,
    total: int,
    epochs: int,
    seed: int,
    loss_fn: LossFn,
    schedule: TaskSchedule,
    select: str,
    step_hooks: Sequence[Callable[[LoopState], None]],
    desc: str,
    spill: Path,
) -> TrainResult:
    """The epochs. The best epoch's weights are written to `spill` (a temporary folder), not
    kept as a second copy of the model in memory for the rest of the run."""
    takes_task = _takes_task(model, accelerator)
    ga = budget.gradient_accumulation_steps
    check_every = CHECK_EVERY if accelerator.device.type == "cuda" else 1
    single = len(tasks) == 1
    best: dict[str, dict[str, Any]] = {}  # "mean" or a task name -> score, epoch, state, metrics
    curve: list[dict[str, float]] = []
    rates: list[float] = []
    step = 0
    examples = dict.fromkeys(tasks, 0)
    train_seconds = 0.0
    per_round = budget.per_device_train_batch_size * accelerator.num_processes
    bar = progress_bar(total=total, desc=desc, leave=False, show=accelerator.is_local_main_process)
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, loss_n = torch.zeros((), device=accelerator.device), 0
        drawn = dict.fromkeys(tasks, 0)
        batches = {n: len(loaders["train"][n]) for n in tasks}
        plan = schedule(batches, epoch - 1, seed)
        iters: dict[str, Any] = {}
        for i, name in enumerate(plan):
            if name not in iters:
                iters[name] = iter(loaders["train"][name])
            try:
                batch = next(iters[name])
            except StopIteration:  # a sampled schedule may draw a task more than once a pass
                iters[name] = iter(loaders["train"][name])
                batch = next(iters[name])
            sync = (i + 1) % ga == 0 or i + 1 == len(plan)
            card = tasks[name].card
            with (
                contextlib.nullcontext()
                if sync or accelerator.num_processes == 1
                else accelerator.no_sync(model)
            ):
                out = _forward(model, batch, name, takes_task)
                loss = loss_fn(out, batch, card)
                loss_sum += loss.detach()
                loss_n += 1
                if loss_n % check_every == 0:
                    _check_finite(loss_sum, epoch, step)
                accelerator.backward(loss / ga)
            drawn[name] += 1
            if sync:
                if budget.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), budget.max_grad_norm)
                opt.step()
                scheduler.step()
                opt.zero_grad()
                step += 1
                rates.append(opt.param_groups[0]["lr"])
                bar.update(1)
                if step_hooks:
                    state = LoopState(step, epoch, _unwrap(model, accelerator), accelerator, tasks)
                    for hook in step_hooks:
                        hook(state)
                    model.train()
                if step >= total:
                    break
        del iters
        # every process draws the same number of batches; the last one may be short (one
        # process) or padded with repeated rows (several): count each row once
        for name, n in drawn.items():
            examples[name] += min(len(tasks[name].train), n * per_round)
        _check_finite(loss_sum, epoch, step)
        train_seconds += time.perf_counter() - t0
        val = {
            name: evaluate_loader(
                model, loaders["validation"][name], tasks[name].card, accelerator, name
            )
            for name in tasks
        }
        train_loss = (loss_sum / max(1, loss_n)).item()
        entry: dict[str, float] = {
            "epoch": epoch,
            "step": step,
            "lr": rates[-1] if rates else 0.0,
            "train_loss": round(train_loss, 5),
        }
        scores = {
            n: _selection_score(tasks[n].card, val[n][tasks[n].card.primary_metric]) for n in tasks
        }
        for name in tasks:
            metric = tasks[name].card.primary_metric
            entry[f"val_{metric}" if single else f"val_{name}_{metric}"] = round(
                val[name][metric], 5
            )
        mean_score = sum(scores.values()) / len(scores)
        if not single:
            entry["val_mean"] = round(mean_score, 5)
        curve.append(entry)
        accelerator.log(
            {
                "train/loss": train_loss,
                **{f"val/{n}/{k}": v for n in val for k, v in val[n].items()},
            },
            step=step,
        )
        candidates = {"mean": mean_score} if select == "mean" else scores
        state = None
        for key, score in candidates.items():
            if key not in best or score > best[key]["score"]:
                if state is None:
                    state = spill / f"epoch-{epoch}.pt"
                    torch.save(_unwrap(model, accelerator).state_dict(), state)
                best[key] = {"score": score, "epoch": epoch, "state": state, "val": val}
        kept = {b["state"] for b in best.values()}
        for stale in set(spill.glob("epoch-*.pt")) - kept:
            stale.unlink()
        if step >= total:
            break
    bar.close()
    results: dict[str, TrainResult] = {}
    for name in tasks:
        chosen = best["mean" if select == "mean" else name]
        weights = torch.load(chosen["state"], map_location="cpu", weights_only=True)
        _unwrap(model, accelerator).load_state_dict(weights)
        del weights
        card = tasks[name].card
        test = evaluate_loader(model, loaders["test"][name], card, accelerator, name)
        results[name] = TrainResult(
            test_metrics=test,
            primary=test[card.primary_metric],
            best_epoch=chosen["epoch"],
            validation_metrics=chosen["val"][name],
            curve=curve,
            steps=step,
            train_examples=examples[name],
            train_seconds=train_seconds,
            learning_rates=rates,
        )
    if single:
        return dataclasses.replace(next(iter(results.values())), tasks=dict(results))
    return TrainResult(
        test_metrics={},
        primary=sum(r.primary for r in results.values()) / len(results),
        best_epoch=best["mean"]["epoch"] if select == "mean" else 0,
        validation_metrics={},
        curve=curve,
        steps=step,
        train_examples=sum(examples.values()),
        train_seconds=train_seconds,
        learning_rates=rates,
        tasks=results,
    )
