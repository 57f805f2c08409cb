"""GBC: Gaussian Bhattacharyya coefficient, the (negated) overlap between the target's classes.

Pándy et al. 2022, CVPR, "Transferability Estimation using Bhattacharyya Class Separability".
Each class c is a diagonal Gaussian N(mu_c, diag(s_c)) in the (PCA-reduced) feature space; with
s = (s_i + s_j) / 2,

    D_B(i, j) = 1/8 sum_k (mu_ik - mu_jk)^2 / s_k + 1/2 sum_k log( s_k / sqrt(s_ik s_jk) ),
    GBC = - sum_i sum_{j != i} exp(-D_B(i, j))      (ordered pairs, as in the paper).

Always <= 0; larger (less overlap) means more transferable.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure

VARIANCE_FLOOR = 1e-4  # per-dimension variance floor: constant dimensions and one-row classes


def bhattacharyya_distance(
    mu1: np.ndarray, var1: np.ndarray, mu2: np.ndarray, var2: np.ndarray
) -> float:
    """D_B between two diagonal Gaussians given means and per-dimension variances."""
    var = 0.5 * (var1 + var2)
    mahalanobis = np.sum((mu1 - mu2) ** 2 / var) / 8.0
    log_det = 0.5 * np.sum(np.log(var) - 0.5 * np.log(var1) - 0.5 * np.log(var2))
    return float(mahalanobis + log_det)


def gbc(features: np.ndarray, labels: np.ndarray, pca_dim: int | None = 64) -> float:
    """GBC of int class `labels` ([n]) given `features` ([n, d]).

    With `pca_dim` (64 in the paper), features of more dimensions are first projected onto their
    top `pca_dim` principal components; `None` keeps them as they are. Class variances are the
    population (1/n_c) variances, floored at `VARIANCE_FLOOR`.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"gbc: features must be [n >= 2, d], got shape {f.shape}")
    if y.size != f.shape[0]:
        raise ValueError(f"gbc: {f.shape[0]} feature rows but {y.size} labels")
    if not np.all(np.isfinite(f)):
        raise ValueError("gbc: features contain NaN or infinite values")
    if pca_dim is not None and f.shape[1] > pca_dim:
        from sklearn.decomposition import PCA

        k = min(pca_dim, f.shape[0])
        f = PCA(n_components=k, svd_solver="full").fit_transform(f)
    classes = np.unique(y)
    mus = [f[y == c].mean(axis=0) for c in classes]
    variances = [np.maximum(f[y == c].var(axis=0), VARIANCE_FLOOR) for c in classes]
    total = 0.0
    for i in range(len(classes)):
        for j in range(i + 1, len(classes)):
            bc = np.exp(-bhattacharyya_distance(mus[i], variances[i], mus[j], variances[j]))
            total += 2.0 * bc  # D_B is symmetric: (i, j) and (j, i) count alike
    return -float(total)


def _gbc_measure(target: TaskView, source_probs: np.ndarray | None = None) -> float:
    if not target.is_classification:
        raise ValueError(f"gbc is for classification targets; task '{target.name}' is regression")
    return gbc(target.features, target.labels)


register_measure(
    MeasureSpec(
        name="gbc",
        kind="transfer",
        fn=_gbc_measure,
        description="Gaussian Bhattacharyya coefficient: minus the summed overlap exp(-D_B) of "
        "per-class diagonal Gaussians in 64-d PCA feature space (<= 0)",
        cheap=True,
        needs_source_probs=False,
        reference="Pándy et al. 2022, CVPR",
    )
)
