"""H-score: how much of the features' variance lies between the target's classes.

Bao et al. 2019, ICIP, "An Information-Theoretic Approach to Transferability in Task Transfer
Learning". With g(x) = E[f | y(x)] (each row replaced by its class's mean feature),

    H = tr( cov(f)^+ cov(g) ),

cov(f)^+ the Moore-Penrose pseudo-inverse (the paper's form, the default here). Lies in
[0, min(C - 1, d)]; larger means more transferable. `shrinkage=True` gives the regularised variant
of Ibrahim et al. 2022 (arXiv:2110.06893): cov(f) by Ledoit-Wolf shrinkage (weight a), cov(g) scaled by 1 - a.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure


def hscore(features: np.ndarray, labels: np.ndarray, shrinkage: bool = False) -> float:
    """H-score of int class `labels` ([n]) given `features` ([n, d])."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"hscore: features must be [n >= 2, d], got shape {f.shape}")
    if y.size != f.shape[0]:
        raise ValueError(f"hscore: {f.shape[0]} feature rows but {y.size} labels")
    if not np.all(np.isfinite(f)):
        raise ValueError("hscore: features contain NaN or infinite values")
    f = f - f.mean(axis=0)
    g = np.zeros_like(f)
    for c in np.unique(y):
        rows = y == c
        g[rows] = f[rows].mean(axis=0)
    n = f.shape[0]
    cov_g = g.T @ g / n  # g has mean 0 since f does
    if shrinkage:
        from sklearn.covariance import LedoitWolf

        lw = LedoitWolf(assume_centered=True).fit(f)
        cov_f, cov_g = lw.covariance_, (1.0 - lw.shrinkage_) * cov_g
    else:
        cov_f = f.T @ f / n  # the 1/n (or 1/(n-1)) cancels between the two covariances
    # pinv's default cut-off is 1e-15 x the largest eigenvalue: too small for covariance noise
    rcond = max(f.shape) * np.finfo(np.float64).eps
    return float(np.sum(np.linalg.pinv(cov_f, rcond=rcond, hermitian=True) * cov_g.T))


def _hscore_measure(target: TaskView, source_probs: np.ndarray | None = None) -> float:
    if not target.is_classification:
        raise ValueError(
            f"hscore is for classification targets; task '{target.name}' is regression"
        )
    return hscore(target.features, target.labels)


register_measure(
    MeasureSpec(
        name="hscore",
        kind="transfer",
        fn=_hscore_measure,
        description="H-score tr(cov(f)^+ cov(E[f|y])): the share of feature variance between the "
        "target's classes (pseudo-inverse form)",
        cheap=True,
        needs_source_probs=False,
        reference="Bao et al. 2019, ICIP",
    )
)
