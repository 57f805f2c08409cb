"""The one training and evaluation loop, on Accelerate: CPU, one GPU or many, unchanged.

`accelerator.prepare` once per run, `accelerator.accumulate` for gradient accumulation,
`gather_for_metrics` into the metric, warm-up + decay schedule, evaluation on the validation
split every epoch, and the best epoch (on the card's primary metric) restored before the
scored split is evaluated.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from harness.cards import TaskCard
from harness.heads import loss_for, predictions_from
from harness.metrics import compute_metrics, is_better
from harness.spec import Budget

logger = logging.getLogger(__name__)


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


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
        perm = torch.randperm(
            len(batches), generator=g
        ).tolist()  # don't always start with the longest
        return iter([i for b in perm for i in batches[b]])


def make_train_loader(
    dataset: Dataset, collate: Callable, budget: Budget, seed: int, lengths: Sequence[int] | None
) -> DataLoader:
    if lengths is not None and budget.group_by_length:
        sampler = LengthGroupedSampler(lengths, budget.per_device_train_batch_size, seed)
        return DataLoader(
            dataset,
            batch_size=budget.per_device_train_batch_size,
            sampler=sampler,
            collate_fn=collate,
        )
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=budget.per_device_train_batch_size,
        shuffle=True,
        collate_fn=collate,
        generator=g,
    )


def make_eval_loader(dataset: Dataset, collate: Callable, budget: Budget) -> DataLoader:
    """Evaluation batches in length order (text), so little padding is computed; predictions
    and references stay paired, so metrics don't depend on the order."""
    from harness.preprocess import row_lengths

    lengths = row_lengths(dataset)
    order = sorted(range(len(dataset)), key=lengths.__getitem__) if lengths else None
    return DataLoader(
        dataset, batch_size=budget.per_device_eval_batch_size, sampler=order, collate_fn=collate
    )


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, card: TaskCard, accelerator: Any
) -> tuple[list, list]:
    """Predictions and references over a prepared loader, gathered from every process."""
    model.eval()
    preds, refs = [], []
    for batch in loader:
        labels = batch.pop("labels")
        out = model(**batch)
        p, r = accelerator.gather_for_metrics((predictions_from(card, out), labels))
        preds.append(p.cpu())
        refs.append(r.cpu())
    return torch.cat(preds).tolist(), torch.cat(refs).tolist()


def evaluate_loader(
    model: nn.Module, loader: DataLoader, card: TaskCard, accelerator: Any
) -> dict[str, float]:
    preds, refs = predict(model, loader, card, accelerator)
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
) -> TrainResult:
    """Train `model` on the target, select the best epoch on validation, score the test split."""
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    set_seed(seed)
    train_loader = make_train_loader(train_set, collate, budget, seed, lengths)
    val_loader = make_eval_loader(validation_set, collate, budget)
    test_loader = make_eval_loader(test_set, collate, budget)
    params = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}]
    optimizer = torch.optim.AdamW(params, lr=budget.learning_rate, weight_decay=budget.weight_decay)

    steps_per_epoch = math.ceil(
        len(train_loader) / max(1, accelerator.num_processes) / budget.gradient_accumulation_steps
    )
    total = steps_per_epoch * math.ceil(budget.num_train_epochs)
    if budget.max_steps > 0:
        total = min(total, budget.max_steps) if budget.num_train_epochs > 0 else budget.max_steps
    epochs = max(1, math.ceil(total / max(1, steps_per_epoch)))
    # a prepared scheduler steps once per process for each optimizer step (Accelerate's
    # AcceleratedScheduler), so its horizon counts process-steps: warm-up and decay then span
    # the whole run on any number of processes
    procs = max(1, accelerator.num_processes)
    scheduler = get_scheduler(
        budget.lr_scheduler_type,
        optimizer,
        num_warmup_steps=int(budget.warmup_ratio * total) * procs,
        num_training_steps=total * procs,
    )
    accelerator.gradient_accumulation_steps = budget.gradient_accumulation_steps
    model, optimizer, train_loader, val_loader, test_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, test_loader, scheduler
    )
    try:
        return _fit(model, optimizer, scheduler, train_loader, val_loader, test_loader, card,
                    budget, accelerator, total, epochs, len(train_set), desc)  # fmt: skip
    finally:
        accelerator.free_memory()


def _fit(model, optimizer, scheduler, train_loader, val_loader, test_loader, card: TaskCard,
         budget: Budget, accelerator: Any, total: int, epochs: int, n_train: int, desc: str) -> TrainResult:  # fmt: skip
    loss_fn = loss_for(card)
    best: dict[str, Any] = {"score": None, "epoch": 0, "state": None, "metrics": {}}
    curve: list[dict[str, float]] = []
    rates: list[float] = []
    step = examples = 0
    train_seconds = 0.0
    bar = tqdm(total=total, desc=desc, leave=False, disable=not accelerator.is_local_main_process)
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, loss_n = torch.zeros((), device=accelerator.device), 0
        batches = 0
        for batch in train_loader:
            with accelerator.accumulate(model):
                labels = batch.pop("labels")
                out = model(**batch)
                loss = loss_fn(
                    out.float(), labels.float() if card.problem == "regression" else labels
                )
                if not torch.isfinite(loss):
                    raise DivergedError(f"loss became {loss.item()} at epoch {epoch}, step {step}")
                accelerator.backward(loss)
                if accelerator.sync_gradients and budget.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), budget.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            loss_sum += loss.detach()
            loss_n += 1
            batches += 1
            if accelerator.sync_gradients:
                step += 1
                rates.append(optimizer.param_groups[0]["lr"])
                bar.update(1)
            if step >= total:
                break
        # every process runs the same number of batches; the last one may be short (one
        # process) or padded with repeated rows (several): count each row once
        per_round = budget.per_device_train_batch_size * accelerator.num_processes
        examples += min(n_train, batches * per_round)
        train_seconds += time.perf_counter() - t0
        val = evaluate_loader(model, val_loader, card, accelerator)
        train_loss = (loss_sum / max(1, loss_n)).item()
        curve.append(
            {
                "epoch": epoch,
                "step": step,
                "lr": rates[-1] if rates else 0.0,
                "train_loss": round(train_loss, 5),
                f"val_{card.primary_metric}": round(val[card.primary_metric], 5),
            }
        )
        accelerator.log(
            {"train/loss": train_loss, **{f"val/{k}": v for k, v in val.items()}}, step=step
        )
        if is_better(card, val[card.primary_metric], best["score"]):
            state = accelerator.unwrap_model(model).state_dict()
            best = {"score": val[card.primary_metric], "epoch": epoch, "metrics": val,
                    "state": {k: v.detach().to("cpu", copy=True) for k, v in state.items()}}  # fmt: skip
        if step >= total:
            break
    bar.close()
    accelerator.unwrap_model(model).load_state_dict(best["state"])
    test = evaluate_loader(model, test_loader, card, accelerator)
    return TrainResult(
        test_metrics=test, primary=test[card.primary_metric], best_epoch=best["epoch"],
        validation_metrics=best["metrics"], curve=curve, steps=step, train_examples=examples,
        train_seconds=train_seconds, learning_rates=rates,
    )  # fmt: skip
