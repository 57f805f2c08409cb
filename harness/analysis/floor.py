"""The floor under every score: the best constant predictor of a task's scored split.

For classification, each class is tried as the one answer for every row and the class that
scores best on the primary metric is kept (for accuracy that is the majority class); for
regression the constant is the split's mean (the best constant under squared error;
correlations of a constant are undefined and reported as NaN). A method that does not beat
this row has learned nothing from the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.cards import TaskCard
from harness.data.subsets import as_array
from harness.metrics import compute_metrics, is_better


def constant_baseline(card: TaskCard, references: Sequence) -> dict[str, Any]:
    """{'predict': the constant, 'metrics': every card metric of predicting it, 'primary': ...}."""
    refs = as_array(references).tolist()  # a `datasets` column is read in one go
    if not refs:
        return {"predict": None, "metrics": {}, "primary": math.nan}
    if card.has_classes:
        best: dict[str, Any] | None = None
        for c, metrics in enumerate(_per_class(card, refs)):
            if best is None or is_better(card, metrics[card.primary_metric], best["primary"]):
                best = {
                    "predict": card.label_names[c],
                    "metrics": metrics,
                    "primary": metrics[card.primary_metric],
                }
        return best
    mean = sum(refs) / len(refs)
    metrics = _metrics(card, [mean] * len(refs), refs)
    return {"predict": round(mean, 6), "metrics": metrics, "primary": metrics[card.primary_metric]}


def _per_class(card: TaskCard, refs: list) -> list[dict[str, float]]:
    """Every card metric of answering class c for every row, for each class c."""
    return [_metrics(card, [c] * len(refs), refs) for c in range(card.num_labels)]


def _metrics(card: TaskCard, predictions: list, references: list) -> dict[str, float]:
    import warnings

    with warnings.catch_warnings():  # a constant has no correlation: scipy warns, we report NaN
        warnings.simplefilter("ignore")
        try:
            out = compute_metrics(card, predictions, references)
        except (ValueError, ZeroDivisionError, FloatingPointError):
            out = {}
    return {
        m: float(out.get(m, math.nan)) if out.get(m) is not None else math.nan for m in card.metrics
    }


def constant_floors(card: TaskCard, references: Sequence) -> dict[str, float]:
    """Each card metric's best constant score on `references`: for classification the class
    that scores best under that metric (each metric its own), for regression the mean (NaN
    for a correlation, which a constant does not have)."""
    from harness.metrics import metric_spec

    refs = list(references)
    if not refs:
        return {m: math.nan for m in card.metrics}
    if not card.has_classes:
        return _metrics(card, [sum(refs) / len(refs)] * len(refs), refs)
    per_class = _per_class(card, refs)
    out = {}
    for m in card.metrics:
        pick = max if metric_spec(m).direction == "max" else min
        values = [scores[m] for scores in per_class if not math.isnan(scores[m])]
        out[m] = pick(values) if values else math.nan
    return out
