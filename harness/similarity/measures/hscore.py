"""H-score: how much of the features' variance lies between the target's classes.

Two measures. `hscore` is the shrinkage H-score of Ibrahim et al. 2022 ("Newer is not always
better: Rethinking transferability metrics, their peculiarities, stability and performance",
arXiv:2110.06893); `hscore_plain` the original of Bao et al. 2019 (ICIP, "An Information-Theoretic
Approach to Transferability in Task Transfer Learning"). With f the centred features, g(x) = E[f | y(x)]
(each row replaced by its class's mean feature), Σ = cov(f) and Σ_b = cov(g), both 1/n:

    plain:      H   = tr( Σ^+ Σ_b ),                                   Σ^+ the pseudo-inverse
    shrinkage:  H_α = tr( ((1 - α) Σ + α σ I)^-1 (1 - α) Σ_b ),        σ = tr(Σ) / d,

α the Ledoit-Wolf shrinkage coefficient of the features (`sklearn.covariance.ledoit_wolf`, whose
shrunk covariance is exactly (1 - α) Σ + α σ I). Σ_b takes the same (1 - α) as Σ: the between-class
part of the covariance is shrunk with it, and α = 0 gives the plain H-score back. Both normalise
Σ and Σ_b alike (1/n), so the 1/n cancels as in the plain score; ports that take Σ_b with np.cov
(1/(n-1)) against sklearn's 1/n Σ are off by n/(n-1).

Why the shrinkage one is registered as `hscore`: the plain score is C - 1 (its maximum) whatever
the labels once rows <= d + 1 (the pseudo-inverse makes Σ a projection onto the rows' span, which
holds every class mean), and on pure noise it grows with d / n, so it favours wide encoders.
Both lie in [0, min(C - 1, d)]; larger means more transferable. Both are unchanged by scaling
the features.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, NotApplicable, TaskView, register_measure


def _centred_and_class_means(
    features: np.ndarray, labels: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """The centred features f and g = E[f | y] row by row, after checking the inputs."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"{name}: features must be [n >= 2, d], got shape {f.shape}")
    if y.size != f.shape[0]:
        raise ValueError(f"{name}: {f.shape[0]} feature rows but {y.size} labels")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{name}: features contain NaN or infinite values")
    f = f - f.mean(axis=0)
    g = np.zeros_like(f)
    for c in np.unique(y):
        rows = y == c
        g[rows] = f[rows].mean(axis=0)
    return f, g


def _trace_of_product(cov_f: np.ndarray, cov_g: np.ndarray, n_rows: int) -> float:
    """tr(cov_f^+ cov_g) for symmetric cov_f."""
    # pinv's default cut-off is 1e-15 x the largest eigenvalue: too small for covariance noise
    rcond = max(n_rows, cov_f.shape[0]) * np.finfo(np.float64).eps
    return float(np.sum(np.linalg.pinv(cov_f, rcond=rcond, hermitian=True) * cov_g.T))


def hscore_plain(features: np.ndarray, labels: np.ndarray) -> float:
    """The plain H-score tr(cov(f)^+ cov(E[f|y])) of int class `labels` ([n]) given `features`
    ([n, d]). Degenerate (C - 1 whatever the labels) when n <= d + 1."""
    f, g = _centred_and_class_means(features, labels, "hscore_plain")
    n = f.shape[0]
    return _trace_of_product(f.T @ f / n, g.T @ g / n, n)  # g has mean 0 since f does


def hscore(features: np.ndarray, labels: np.ndarray, alpha: float | None = None) -> float:
    """The shrinkage H-score H_α of int class `labels` ([n]) given `features` ([n, d]).

    `alpha`: the shrinkage coefficient in [0, 1]; None (the measure) takes the Ledoit-Wolf one.
    """
    from sklearn.covariance import ledoit_wolf

    f, g = _centred_and_class_means(features, labels, "hscore")
    n, d = f.shape
    cov_f = f.T @ f / n
    sigma = float(np.trace(cov_f)) / d
    if not sigma > 0:
        raise ValueError("hscore: the features are constant (no variance to shrink towards)")
    if alpha is None:
        shrunk, alpha = ledoit_wolf(f, assume_centered=True)
    else:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"hscore: alpha must be in [0, 1], got {alpha}")
        shrunk = (1.0 - alpha) * cov_f + alpha * sigma * np.eye(d)
    return _trace_of_product(shrunk, (1.0 - float(alpha)) * (g.T @ g / n), n)


def _classification(target: TaskView, measure: str) -> None:
    if not target.is_classification:
        raise NotApplicable(
            f"{measure} is for classification targets; task '{target.name}' is regression"
        )


def _hscore_measure(target: TaskView, source_probs: np.ndarray | None = None) -> float:
    _classification(target, "hscore")
    return hscore(target.features, target.labels)


def _hscore_plain_measure(target: TaskView, source_probs: np.ndarray | None = None) -> float:
    _classification(target, "hscore_plain")
    return hscore_plain(target.features, target.labels)


register_measure(
    MeasureSpec(
        name="hscore",
        kind="transfer",
        fn=_hscore_measure,
        description="shrinkage H-score tr(cov_α(f)^-1 (1-α) cov(E[f|y])), cov_α(f) the Ledoit-Wolf "
        "shrunk feature covariance: the share of feature variance between the target's classes",
        cheap=True,
        needs_source_probs=False,
        reference="Ibrahim et al. 2022, arXiv:2110.06893 (shrinkage H-score); Bao et al. 2019, ICIP",
    )
)

register_measure(
    MeasureSpec(
        name="hscore_plain",
        kind="transfer",
        fn=_hscore_plain_measure,
        description="plain H-score tr(cov(f)^+ cov(E[f|y])) (pseudo-inverse form); C - 1 whatever "
        "the labels when rows <= feature dimension + 1, and it favours wide encoders",
        cheap=True,
        needs_source_probs=False,
        reference="Bao et al. 2019, ICIP",
    )
)
