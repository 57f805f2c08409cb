"""Card metrics on many resamples of one set of predictions at once (for bootstrap intervals).

`on_resamples(name, predictions, references, rows)` scores each row of `rows` (a [B, n] array
of indices into the predictions) as `compute_metric` would score that resample, vectorised,
so a 1,000-resample bootstrap costs one pass. Each result is checked against
`compute_metric` (the `evaluate` modules) on the whole sample first: a disagreement raises
rather than giving intervals around another number.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from harness.metrics import compute_metric, metric_spec

AGREE = 1e-6  # the vectorised metric and `compute_metric` on the whole sample (float error)


def _confusion(truth: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """[B, k, k] confusion counts (true class along axis 1) of B resamples."""
    b = truth.shape[0]
    flat = (np.arange(b)[:, None] * k * k + truth * k + pred).ravel()
    return np.bincount(flat, minlength=b * k * k).reshape(b, k, k).astype(float)


def _f1(conf: np.ndarray, average: str) -> np.ndarray:
    tp = np.diagonal(conf, axis1=1, axis2=2)
    fp = conf.sum(1) - tp
    fn = conf.sum(2) - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    if average == "binary":  # positive label 1, as the `f1` module's default
        return f1[:, 1]
    present = denom > 0  # sklearn averages over the labels in the references or predictions
    return (f1 * present).sum(1) / np.maximum(present.sum(1), 1)


def _mcc(conf: np.ndarray) -> np.ndarray:
    """Matthews correlation of each confusion matrix (sklearn's multi-class form)."""
    t_sum, p_sum = conf.sum(2), conf.sum(1)
    correct = np.trace(conf, axis1=1, axis2=2)
    n = conf.sum((1, 2))
    cov_tp = correct * n - (t_sum * p_sum).sum(1)
    cov_pp = n**2 - (p_sum * p_sum).sum(1)
    cov_tt = n**2 - (t_sum * t_sum).sum(1)
    denom = np.sqrt(cov_tt * cov_pp)
    return np.divide(cov_tp, denom, out=np.zeros_like(cov_tp), where=denom > 0)


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(1, keepdims=True)
    y = y - y.mean(1, keepdims=True)
    denom = np.sqrt((x * x).sum(1) * (y * y).sum(1))
    return np.divide((x * y).sum(1), denom, out=np.full(len(x), np.nan), where=denom > 0)


def _vectorised(name: str, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    spec = metric_spec(name)
    if spec.module in ("accuracy",):
        return (pred == truth).mean(1)
    if spec.module in ("f1", "matthews_correlation"):
        k = int(max(pred.max(), truth.max(), 1)) + 1  # binary f1 reads class 1
        conf = _confusion(truth.astype(int), pred.astype(int), k)
        if spec.module == "f1":
            return _f1(conf, spec.kwargs.get("average", "binary"))
        return _mcc(conf)
    if spec.module == "pearsonr":
        return _pearson(pred.astype(float), truth.astype(float))
    if spec.module == "spearmanr":
        return _pearson(rankdata(pred, axis=1), rankdata(truth, axis=1))
    if spec.module == "mse":
        return ((pred.astype(float) - truth.astype(float)) ** 2).mean(1)
    raise ValueError(f"metric '{name}' has no resampled form")


def on_resamples(
    name: str, predictions: np.ndarray, references: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """The metric `name` on each resample (row of `rows`); checked on the whole sample."""
    predictions, references = np.asarray(predictions), np.asarray(references)
    whole = _vectorised(name, predictions[None, :], references[None, :])[0]
    reference = compute_metric(name, predictions.tolist(), references.tolist())
    close = abs(whole - reference) <= AGREE * max(1.0, abs(reference))
    if not (close or (np.isnan(whole) and np.isnan(reference))):
        raise ValueError(
            f"metric '{name}': the resampled form gives {whole!r} on the whole sample where "
            f"the metric module gives {reference!r}"
        )
    return _vectorised(name, predictions[rows], references[rows])
