"""Fréchet (2-Wasserstein / Bures–Wasserstein) distance between Gaussians fitted to two tasks'
features under the same reference encoder.

    d²(a, b) = ||mu_a - mu_b||² + tr(C_a + C_b - 2 (C_a^½ C_b C_a^½)^½)

Similarity = -d² (larger = more similar; 0 for identical Gaussians).
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and unbiased covariance [d, d] (ddof=1) of `features` [n, d], n >= 2."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"gaussian_stats needs features of shape [n >= 2, d], got {x.shape}")
    mu = x.mean(axis=0)
    xc = x - mu
    return mu, xc.T @ xc / (x.shape[0] - 1)


def sqrtm_psd(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix via eigendecomposition (negative eigenvalues -> 0)."""
    c = np.asarray(cov, dtype=np.float64)
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between N(mu1, cov1) and N(mu2, cov2); always >= 0."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, float)), np.atleast_2d(np.asarray(cov2, float))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size,) * 2:
        raise ValueError(
            f"frechet_distance: shape mismatch mu {mu1.shape}/{mu2.shape}, "
            f"cov {cov1.shape}/{cov2.shape}"
        )
    s1 = sqrtm_psd(cov1)
    m = s1 @ cov2 @ s1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    d2 = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * cross)
    return max(d2, 0.0)


def frechet_similarity(a: TaskView, b: TaskView) -> float:
    """-frechet_distance of the Gaussians fitted to `a.features` and `b.features`."""
    mu_a, cov_a = gaussian_stats(a.features)
    mu_b, cov_b = gaussian_stats(b.features)
    return -frechet_distance(mu_a, cov_a, mu_b, cov_b)


register_measure(
    MeasureSpec(
        name="frechet",
        kind="pair",
        fn=frechet_similarity,
        description="negated Fréchet (2-Wasserstein) distance between Gaussians fitted to the "
        "two tasks' reference features",
        cheap=True,
        reference="Dowson & Landau 1982, J. Multivariate Analysis; Heusel et al. 2017, NeurIPS",
    )
)
