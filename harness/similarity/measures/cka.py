"""Centred kernel alignment (CKA) between two representations of the SAME rows.

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),  HSIC(K, L) = tr(K H L H)
    linear:    CKA(X, Y) = ||Yc^T Xc||_F² / (||Xc^T Xc||_F ||Yc^T Yc||_F)   (c = column-centred)
    rbf:       K_ij = exp(-||x_i - x_j||² / (2 sigma²)), sigma² = median off-diagonal ||x_i - x_j||²

Between tasks, the harness passes the same probe rows encoded by two task-trained encoders, so
`a.features` and `b.features` must have the same number of rows (a ValueError otherwise).
Invariant to orthogonal transforms and isotropic scaling; in [0, 1], 1 = same structure.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure


def _pair(x: np.ndarray, y: np.ndarray, who: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(
            f"{who} compares two representations of the SAME rows; got shapes {x.shape} and "
            f"{y.shape} (need 2-D arrays with equal row counts >= 2)"
        )
    return x, y


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of `x` [n, d1] and `y` [n, d2] (rows paired); 0.0 if one is constant."""
    x, y = _pair(x, y, "linear_cka")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    if denom == 0.0:
        return 0.0
    return float(np.linalg.norm(y.T @ x) ** 2 / denom)


def rbf_gram(x: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """RBF Gram matrix exp(-||x_i - x_j||² / (2 sigma²)); sigma defaults to the median heuristic
    (sigma² = median of the off-diagonal squared distances)."""
    x = np.asarray(x, dtype=np.float64)
    sq = np.sum(x * x, axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None)
    if sigma is None:
        off = d2[~np.eye(len(x), dtype=bool)]
        s2 = float(np.median(off)) if off.size else 0.0
        if s2 <= 0.0:
            s2 = 1.0  # (half or more of the rows coincide: any bandwidth gives the same ranking)
    else:
        if sigma <= 0:
            raise ValueError(f"rbf_gram: sigma must be > 0, got {sigma}")
        s2 = float(sigma) ** 2
    return np.exp(-d2 / (2.0 * s2))


def _centre(k: np.ndarray) -> np.ndarray:
    return k - k.mean(axis=0, keepdims=True) - k.mean(axis=1, keepdims=True) + k.mean()


def kernel_cka(k: np.ndarray, m: np.ndarray) -> float:
    """CKA of two [n, n] Gram matrices; 0.0 if one is constant after centring."""
    kc, mc = _centre(np.asarray(k, float)), _centre(np.asarray(m, float))
    denom = np.linalg.norm(kc) * np.linalg.norm(mc)
    if denom == 0.0:
        return 0.0
    return float(np.sum(kc * mc) / denom)


def rbf_cka(x: np.ndarray, y: np.ndarray, sigma: float | None = None) -> float:
    """RBF-kernel CKA of `x` [n, d1] and `y` [n, d2]; `sigma` shared, or per-side median."""
    x, y = _pair(x, y, "rbf_cka")
    return kernel_cka(rbf_gram(x, sigma), rbf_gram(y, sigma))


def cka_linear_pair(a: TaskView, b: TaskView) -> float:
    """Linear CKA of the same probe rows encoded two ways (`a.features` vs `b.features`)."""
    return linear_cka(a.features, b.features)


def cka_rbf_pair(a: TaskView, b: TaskView) -> float:
    """RBF CKA (median bandwidth per side) of the same probe rows encoded two ways."""
    return rbf_cka(a.features, b.features)


_REF = "Kornblith et al. 2019, ICML"
register_measure(
    MeasureSpec(
        name="cka_linear",
        kind="pair",
        fn=cka_linear_pair,
        needs_task_models=True,
        description="linear centred kernel alignment of the same probe rows under two "
        "task-trained encoders",
        cheap=True,
        reference=_REF,
    )
)
register_measure(
    MeasureSpec(
        name="cka_rbf",
        kind="pair",
        fn=cka_rbf_pair,
        needs_task_models=True,
        description="RBF-kernel centred kernel alignment (median-distance bandwidth) of the same "
        "probe rows under two task-trained encoders",
        cheap=False,
        reference=_REF,
    )
)
