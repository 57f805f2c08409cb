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

The loop's parts, all importable from here too: `harness.training_hooks` (what it takes and
gives back), `harness.training_setup` (a run's loaders, optimizer, schedule and `prepare`),
`harness.loaders` (batches) and `harness.model_outputs` (outputs and predictions).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from harness.cards import TaskCard
from harness.hostmemory import onednn_enabled, onednn_pays
from harness.loaders import (
    LengthGroupedSampler,
    loader_options,
    make_eval_loader,
    make_train_loader,
)
from harness.metrics import compute_metrics
from harness.model_outputs import (
    NON_INPUTS,
    Scores,
    _forward,
    _takes_task,
    _unwrap,
    in_row_order,
    predict,
    predict_outputs,
    split_labels,
)
from harness.progress import bar as progress_bar
from harness.spec import Budget
from harness.training_hooks import (
    LoopState,
    LossFn,
    OptimizerFactory,
    TaskSchedule,
    TaskSplits,
    TrainResult,
    adamw,
    calibrate_heads,
    curve_entry,
    keep_best,
    next_batch,
    one_pass,
    supervised_loss,
    weighted,
)
from harness.training_setup import prepare_run

__all__ = [  # the loop here; its parts, from their modules, stay importable from here
    "CHECK_EVERY",
    "NON_INPUTS",
    "TRAINING_VERSION",
    "DivergedError",
    "LengthGroupedSampler",
    "LoopState",
    "LossFn",
    "OptimizerFactory",
    "TaskSchedule",
    "TaskSplits",
    "TrainResult",
    "adamw",
    "calibrate_heads",
    "evaluate_loader",
    "loader_options",
    "make_eval_loader",
    "make_train_loader",
    "one_pass",
    "predict",
    "predict_outputs",
    "split_labels",
    "supervised_loss",
    "train_model",
    "train_tasks",
    "weighted",
]

logger = logging.getLogger(__name__)


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


# what training computes: part of the cache keys of trained models (sources, task sets, teachers),
# so a change to what the loop trains never serves weights trained the old way. 2: regression
# heads in standard units (`TaskHead.calibrate`)
TRAINING_VERSION = 2
CHECK_EVERY = 32  # on a GPU, batches between reads of the loss (each is a host-device sync)


def evaluate_loader(
    model: nn.Module, loader: DataLoader, card: TaskCard, accelerator: Any, task: str | None = None
) -> Scores:
    preds, refs = predict(model, loader, card, accelerator, task)
    return Scores(compute_metrics(card, preds, refs), preds, refs)


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
    if select not in ("mean", "per_task"):
        raise ValueError(f"select must be 'mean' or 'per_task', got {select!r}")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"a task set names a task twice: {names}")
    run = prepare_run(model, tasks, budget, accelerator, seed, param_groups, optimizer, schedule)
    try:
        with (
            onednn_enabled(onednn_pays(run.model, accelerator)),
            tempfile.TemporaryDirectory(prefix="transferbench-best-") as spill,
        ):
            return _fit(
                run.model,
                run.optimizer,
                run.scheduler,
                run.loaders,
                {t.name: t for t in tasks},
                budget,
                accelerator,
                run.total,
                run.epochs,
                seed,
                weighted(loss, run.loss_weights),
                schedule,
                select,
                step_hooks,
                desc,
                Path(spill),
            )
    finally:
        release_prepared(accelerator)


def release_prepared(accelerator: Any) -> None:
    """Drop the accelerator's references to what a training prepared (models, optimizers,
    schedulers, loaders), as `Accelerator.free_memory` does. On a CPU without the full garbage
    collection `free_memory` adds: there it empties no device cache (cycles are left to the
    collector's own schedule) and costs ~0.3 s a training once the heap is large (measured:
    31.8 s of 392 s in a profiled `quick` suite, 107 trainings)."""
    if accelerator.device.type != "cpu":
        accelerator.free_memory()
        return
    accelerator._schedulers, accelerator._optimizers = [], []
    accelerator._models, accelerator._dataloaders = [], []
    accelerator.step = 0


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
            batch = next_batch(iters, loaders["train"], name)
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
        scores = {
            n: _selection_score(tasks[n].card, val[n][tasks[n].card.primary_metric]) for n in tasks
        }
        mean_score = sum(scores.values()) / len(scores)
        curve.append(curve_entry(epoch, step, rates, train_loss, tasks, val, mean_score))
        accelerator.log(
            {
                "train/loss": train_loss,
                **{f"val/{n}/{k}": v for n in val for k, v in val[n].items()},
            },
            step=step,
        )
        candidates = {"mean": mean_score} if select == "mean" else scores
        keep_best(best, candidates, epoch, val, _unwrap(model, accelerator), spill)
        if step >= total:
            break
    bar.close()
    return _results(
        model,
        loaders,
        tasks,
        accelerator,
        best,
        select,
        curve,
        step,
        examples,
        train_seconds,
        rates,
    )


def _results(
    model, loaders, tasks, accelerator, best, select, curve, step, examples, train_seconds, rates
) -> TrainResult:
    """Each task scored with its best epoch's weights; one result, or one per task of a set."""
    results: dict[str, TrainResult] = {}
    for name in tasks:
        chosen = best["mean" if select == "mean" else name]
        weights = torch.load(chosen["state"], map_location="cpu", weights_only=True)
        _unwrap(model, accelerator).load_state_dict(weights)
        del weights
        card = tasks[name].card
        test = evaluate_loader(model, loaders["test"][name], card, accelerator, name)
        results[name] = TrainResult(
            test_metrics=dict(test),
            test_predictions=in_row_order(test, tasks[name].test, name),
            primary=test[card.primary_metric],
            best_epoch=chosen["epoch"],
            validation_metrics=chosen["val"][name],
            curve=curve,
            steps=step,
            train_examples=examples[name],
            train_seconds=train_seconds,
            learning_rates=rates,
        )
    if len(tasks) == 1:
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
