"""Maximum mean discrepancy between two domains (Gretton et al. 2012): the distance between
the two tasks' mean embeddings in a kernel's feature space, on reference features.

Kernel: Gaussian, k(x, y) = exp(−||x − y||² / (2σ²)), with σ by the median heuristic: the
median Euclidean distance between the rows of the pooled sample (every pair, i < j). The
estimate is the unbiased one,

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j) − 2/(mn) Σ_{i,j} k(x_i, y_j)

on at most `MAX_ROWS` rows of each task (a seeded sample). Similarity = −MMD²_u (it can dip
just below 0 for identical distributions: the estimate is unbiased, not non-negative).
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure

SEED = 0
MAX_ROWS = 1000


def _features(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"mmd: {name} needs features of shape [n >= 2, d], got {x.shape}")
    return x


def _sq_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.clip(d, 0.0, None)


def median_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """σ: the median distance between the pooled rows (every pair i < j)."""
    z = np.concatenate([x, y])
    d = np.sqrt(_sq_distances(z, z)[np.triu_indices(len(z), k=1)])
    sigma = float(np.median(d))
    if sigma <= 0.0:
        raise ValueError("mmd: the median distance between rows is 0 (the rows are one point)")
    return sigma


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, sigma: float | None = None) -> float:
    """The unbiased MMD² between samples `x` [m, d] and `y` [n, d] under a Gaussian kernel of
    bandwidth `sigma` (default: the median heuristic)."""
    x, y = _features(x, "domain a"), _features(y, "domain b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd: feature widths differ ({x.shape[1]} vs {y.shape[1]})")
    sigma = median_bandwidth(x, y) if sigma is None else float(sigma)
    gamma = 1.0 / (2.0 * sigma**2)
    kxx = np.exp(-gamma * _sq_distances(x, x))
    kyy = np.exp(-gamma * _sq_distances(y, y))
    kxy = np.exp(-gamma * _sq_distances(x, y))
    m, n = len(x), len(y)
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def mmd_similarity(a: TaskView, b: TaskView) -> float:
    """−MMD² of the two tasks' reference features (each sampled to at most MAX_ROWS rows)."""
    rng = np.random.default_rng(SEED)

    def sample(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return x[np.sort(rng.permutation(len(x))[:MAX_ROWS])] if len(x) > MAX_ROWS else x

    return -mmd2_unbiased(sample(a.features), sample(b.features))


register_measure(
    MeasureSpec(
        name="mmd",
        kind="pair",
        fn=mmd_similarity,
        description="negated unbiased MMD² between the two tasks' reference features, Gaussian "
        "kernel, bandwidth the median pairwise distance (a domain divergence)",
        cheap=True,
        reference="Gretton et al. 2012, JMLR",
    )
)
