"""What the training loop takes and gives back: a task's splits (`TaskSplits`), the hooks
(loss, optimizer, task schedule) with their defaults, the state a step hook sees, the result,
and the loss weights that put regression tasks in standard units."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from harness.cards import TaskCard
from harness.heads import loss_for, task_head
from harness.model_outputs import split_labels
from harness.spec import Budget


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
    # (predictions, references) on the scored split, in its row order; stored beside the record
    test_predictions: tuple[list, list] | None = field(default=None, repr=False, compare=False)

    @property
    def throughput(self) -> float:
        return self.train_examples / self.train_seconds if self.train_seconds > 0 else 0.0


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


def next_batch(iters: dict[str, Any], loaders: dict[str, Any], name: str) -> Any:
    """The next training batch of `name`, starting its loader again when it runs out (a
    sampled schedule may draw a task more than once a pass)."""
    if name not in iters:
        iters[name] = iter(loaders[name])
    try:
        return next(iters[name])
    except StopIteration:
        iters[name] = iter(loaders[name])
        return next(iters[name])


def curve_entry(
    epoch: int,
    step: int,
    rates: list[float],
    train_loss: float,
    tasks: dict[str, TaskSplits],
    val: dict[str, dict[str, float]],
    mean_score: float,
) -> dict[str, float]:
    """One epoch's line of the learning curve: loss, rate and each task's validation score."""
    single = len(tasks) == 1
    entry: dict[str, float] = {
        "epoch": epoch,
        "step": step,
        "lr": rates[-1] if rates else 0.0,
        "train_loss": round(train_loss, 5),
    }
    for name in tasks:
        metric = tasks[name].card.primary_metric
        entry[f"val_{metric}" if single else f"val_{name}_{metric}"] = round(val[name][metric], 5)
    if not single:
        entry["val_mean"] = round(mean_score, 5)
    return entry


def keep_best(
    best: dict[str, dict[str, Any]],
    candidates: dict[str, float],
    epoch: int,
    val: dict[str, Any],
    model: nn.Module,
    spill: Path,
) -> None:
    """Record this epoch where it beats the best so far (its weights spilled to disk once),
    and delete the spilled weights no best points at any more."""
    state = None
    for key, score in candidates.items():
        if key not in best or score > best[key]["score"]:
            if state is None:
                state = spill / f"epoch-{epoch}.pt"
                torch.save(model.state_dict(), state)
            best[key] = {"score": score, "epoch": epoch, "state": state, "val": val}
    kept = {b["state"] for b in best.values()}
    for stale in set(spill.glob("epoch-*.pt")) - kept:
        stale.unlink()
