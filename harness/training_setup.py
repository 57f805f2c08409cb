"""Setting up a training run: every task's loaders, gradient checkpointing, regression heads
calibrated to their labels, the optimizer and its warm-up + decay schedule over the run's
steps, and one `accelerator.prepare` for all of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from harness.loaders import loader_options, make_eval_loader, make_train_loader
from harness.spec import Budget
from harness.training_hooks import OptimizerFactory, TaskSchedule, TaskSplits, calibrate_heads


@dataclass
class PreparedRun:
    """What `prepare_run` hands the loop: the prepared model, optimizer, scheduler and loaders
    (split -> task name -> loader), the run's optimizer steps and epochs, and each regression
    task's loss weight."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loaders: dict[str, dict[str, Any]]
    total: int
    epochs: int
    loss_weights: dict[str, float]


def prepare_run(
    model: nn.Module,
    tasks: Sequence[TaskSplits],
    budget: Budget,
    accelerator: Any,
    seed: int,
    param_groups: list[dict[str, Any]] | None,
    optimizer: OptimizerFactory,
    schedule: TaskSchedule,
) -> PreparedRun:
    """Seed, build and prepare everything a run of `train_tasks` needs."""
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    set_seed(seed)
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
    order = [t.name for t in tasks]
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
    return PreparedRun(model, opt, scheduler, loaders, total, epochs, weights)


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
