"""GBC: Gaussian Bhattacharyya coefficient, the (negated) overlap between the target's classes.

Pándy et al. 2022, CVPR, "Transferability Estimation using Bhattacharyya Class Separability".
Each class c is a diagonal Gaussian N(mu_c, diag(s_c)) in the (PCA-reduced) feature space; with
s = (s_i + s_j) / 2,

    D_B(i, j) = 1/8 sum_k (mu_ik - mu_jk)^2 / s_k + 1/2 sum_k log( s_k / sqrt(s_ik s_jk) ),
    GBC = - sum_i sum_{j != i} exp(-D_B(i, j))      (ordered pairs, as in the paper).

Always <= 0; larger (less overlap) means more transferable.

Two departures from the reference code, both so that the score depends on the features' shape,
not their units or width: the per-dimension variance floor (for constant dimensions and one-row
classes) is relative, `VARIANCE_FLOOR` times the mean variance of the projected features, where
the reference floors at an absolute 1e-4 (features scaled by 0.001 then moved GBC from -0.0007 to
-10.7); and the features are always projected onto their principal axes (top `pca_dim`), where the
reference skips PCA for features of `pca_dim` dimensions or fewer. With diagonal Gaussians the
basis matters, so the principal axes make the score the same under any rotation of the features,
at every width. GBC is then unchanged by scaling, rotating or shifting the features.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, NotApplicable, TaskView, register_measure

# per-dimension variance floor (constant dimensions, one-row classes), relative to the mean
# variance of the projected features (the reference's absolute 1e-4 at unit mean variance)
VARIANCE_FLOOR = 1e-4


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

    The features are first projected onto their top min(`pca_dim`, n, d) principal components
    (`pca_dim` 64 in the paper; `None` keeps every dimension, still in the principal axes),
    whatever their width. Class variances are the population (1/n_c) variances, floored at
    `VARIANCE_FLOOR` times the mean variance of the projected features.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"gbc: features must be [n >= 2, d], got shape {f.shape}")
    if y.size != f.shape[0]:
        raise ValueError(f"gbc: {f.shape[0]} feature rows but {y.size} labels")
    if not np.all(np.isfinite(f)):
        raise ValueError("gbc: features contain NaN or infinite values")
    if not np.any(f.var(axis=0) > 0):
        raise ValueError("gbc: the features are constant (no variance)")
    from sklearn.decomposition import PCA

    k = min(f.shape) if pca_dim is None else min(pca_dim, *f.shape)
    f = PCA(n_components=k, svd_solver="full").fit_transform(f)
    floor = VARIANCE_FLOOR * float(np.mean(f.var(axis=0)))  # x tr(cov) / k, projected
    classes = np.unique(y)
    mus = [f[y == c].mean(axis=0) for c in classes]
    variances = [np.maximum(f[y == c].var(axis=0), floor) for c in classes]
    total = 0.0
    for i in range(len(classes)):
        for j in range(i + 1, len(classes)):
            bc = np.exp(-bhattacharyya_distance(mus[i], variances[i], mus[j], variances[j]))
            total += 2.0 * bc  # D_B is symmetric: (i, j) and (j, i) count alike
    return -float(total)


def _gbc_measure(target: TaskView, source_probs: np.ndarray | None = None) -> float:
    if not target.is_classification:
        raise NotApplicable(
            f"gbc is for classification targets; task '{target.name}' is regression"
        )
    return gbc(target.features, target.labels)


register_measure(
    MeasureSpec(
        name="gbc",
        kind="transfer",
        fn=_gbc_measure,
        description="Gaussian Bhattacharyya coefficient: minus the summed overlap exp(-D_B) of "
        "per-class diagonal Gaussians in 64-d PCA feature space, variance floor relative to the "
        "feature scale (<= 0)",
        cheap=True,
        needs_source_probs=False,
        reference="Pándy et al. 2022, CVPR",
    )
)
