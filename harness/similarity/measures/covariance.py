"""Covariance similarity: normalised Frobenius inner product of the two tasks' feature
covariance matrices under the same reference encoder.

    s(a, b) = <C_a, C_b>_F / (||C_a||_F ||C_b||_F)

In [-1, 1] (in [0, 1] for PSD covariances); 1 when C_b is a positive multiple of C_a.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure


def covariance_matrix(features: np.ndarray) -> np.ndarray:
    """Unbiased (ddof=1) covariance [d, d] of `features` [n, d], n >= 2."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"covariance_matrix needs features of shape [n >= 2, d], got {x.shape}")
    xc = x - x.mean(axis=0)
    return xc.T @ xc / (x.shape[0] - 1)


def covariance_similarity(cov1: np.ndarray, cov2: np.ndarray) -> float:
    """<cov1, cov2>_F / (||cov1||_F ||cov2||_F); ValueError for a zero matrix."""
    c1, c2 = np.asarray(cov1, dtype=np.float64), np.asarray(cov2, dtype=np.float64)
    if c1.shape != c2.shape:
        raise ValueError(f"covariance_similarity: shape mismatch {c1.shape} vs {c2.shape}")
    n1, n2 = np.linalg.norm(c1), np.linalg.norm(c2)
    if n1 == 0.0 or n2 == 0.0:
        raise ValueError("covariance_similarity: a covariance matrix is zero (constant features)")
    return float(np.sum(c1 * c2) / (n1 * n2))


def covariance_pair(a: TaskView, b: TaskView) -> float:
    """Covariance similarity of the two tasks' reference features."""
    return covariance_similarity(covariance_matrix(a.features), covariance_matrix(b.features))


register_measure(
    MeasureSpec(
        name="covariance",
        kind="pair",
        fn=covariance_pair,
        description="normalised Frobenius inner product (cosine) of the two tasks' feature "
        "covariance matrices",
        cheap=True,
        reference="Herdin et al. 2005, IEEE VTC (correlation matrix distance)",
    )
)
