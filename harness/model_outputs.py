"""A model's outputs over a split: predictions and references for the metrics, raw outputs
in row order, and a split's labels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from harness.cards import TaskCard
from harness.heads import predictions_from
from harness.loaders import eval_order

logger = logging.getLogger(__name__)

NON_INPUTS = ("labels", "task", "soft_targets")  # batch columns the model does not take


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


class Scores(dict):
    """A card's metrics (a dict), with the predictions and references they were computed from."""

    def __init__(self, metrics: dict[str, float], predictions: list, references: list):
        super().__init__(metrics)
        self.predictions, self.references = predictions, references


def in_row_order(scores: dict[str, float], dataset: Dataset, task: str) -> tuple[list, list] | None:
    """The predictions and references `scores` kept (`Scores`), put back in the split's row
    order (evaluation reads it by length: `eval_order`); checked against the split's own
    labels, so predictions are never stored against the wrong rows (None, said, if not)."""
    preds, refs = getattr(scores, "predictions", None), getattr(scores, "references", None)
    if preds is None or refs is None or len(preds) != len(dataset):
        return None
    order = eval_order(dataset) or range(len(preds))
    by_row_p, by_row_r = [None] * len(preds), [None] * len(refs)
    for i, row in enumerate(order):
        by_row_p[row], by_row_r[row] = preds[i], refs[i]
    truth = split_labels(dataset).tolist()
    if any(abs(float(a) - float(b)) > 1e-6 for a, b in zip(by_row_r, truth)):
        logger.warning(
            "task '%s': the scored predictions do not line up with the split's rows; "
            "they are not stored (the scores stand: metrics do not depend on the order)",
            task,
        )
        return None
    return by_row_p, by_row_r
