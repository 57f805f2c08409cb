"""LogME: the maximum log marginal evidence of Bayesian linear regression from features to labels.

You et al. 2021, ICML, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning".
For each target column y (one-hot per class, or the regression target) and prior/noise precisions
(alpha, beta), with F the [n, D] features, A = alpha I + beta F^T F and m = beta A^-1 F^T y,

    L(alpha, beta) = n/2 log beta + D/2 log alpha - n/2 log 2 pi
                     - beta/2 ||F m - y||^2 - alpha/2 ||m||^2 - 1/2 log |A|.

(alpha, beta) are set by MacKay's fixed point (the paper's Algorithm 1), written in terms of the
eigen-decomposition of F^T F (checked against the closed-form limits alpha -> inf and, when
rank F = n, beta -> inf), and the score is the mean over columns of max L / n.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure

_LOG_2PI = float(np.log(2.0 * np.pi))


class _Spectrum:
    """The eigen-decomposition of F^T F that every target column shares.

    `sigma` holds the nonzero eigenvalues (squared singular values) of F, `basis` the matching
    left singular vectors [n, k] (so x = basis^T y), and `dim` is D; the D - k eigenvalues left
    out are zero and enter log |A| as (D - k) log alpha.
    """

    def __init__(self, features: np.ndarray):
        f = np.asarray(features, dtype=np.float64)
        n, d = f.shape
        self.n, self.dim = n, d
        if n > d:  # the [D, D] Gram matrix is the cheaper one
            sigma, v = np.linalg.eigh(f.T @ f)
        else:
            sigma, v = np.linalg.eigh(f @ f.T)
        sigma = np.clip(sigma, 0.0, None)
        keep = sigma > max(n, d) * np.finfo(np.float64).eps * max(float(sigma.max()), 1e-300)
        sigma, v = sigma[keep], v[:, keep]
        self.sigma = sigma
        # left singular vectors: u_i = F v_i / s_i when v came from F^T F; directly v otherwise
        self.basis = (f @ v) / np.sqrt(sigma) if n > d else v

    def project(self, y: np.ndarray) -> tuple[np.ndarray, float]:
        """x = U^T y and the squared norm of the part of y outside the column space of F."""
        x = self.basis.T @ y
        return x, max(float(y @ y - x @ x), 0.0)


def _evidence(spec: _Spectrum, x: np.ndarray, rest: float, alpha: float, beta: float) -> float:
    """L(alpha, beta) / n from the spectrum (m and the residual are computed at alpha / beta)."""
    sigma, n, d = spec.sigma, spec.n, spec.dim
    t = alpha / beta
    m2 = float(np.sum(sigma * x**2 / (sigma + t) ** 2))  # ||m||^2
    res2 = float(np.sum((t / (sigma + t)) ** 2 * x**2)) + rest  # ||F m - y||^2
    logdet = float(np.sum(np.log(alpha + beta * sigma))) + (d - sigma.size) * np.log(alpha)
    ev = (
        0.5 * d * np.log(alpha)
        + 0.5 * n * np.log(beta)
        - 0.5 * beta * res2
        - 0.5 * alpha * m2
        - 0.5 * logdet
        - 0.5 * n * _LOG_2PI
    )
    return float(ev) / n


def logme_evidence(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """The log marginal evidence / n of one target column at fixed (alpha, beta)."""
    spec = _Spectrum(_as_features(features))
    x, rest = spec.project(np.asarray(y, dtype=np.float64).reshape(-1))
    return _evidence(spec, x, rest, float(alpha), float(beta))


def _maximise(
    spec: _Spectrum, y: np.ndarray, max_iter: int = 1000, tol: float = 1e-8
) -> tuple[float, float, float]:
    """MacKay's fixed point for one column: (max evidence / n, alpha, beta).

    Stops when alpha / beta changes by less than `tol` (relative), or when alpha / beta exceeds
    1e10 x the largest eigenvalue. The result is the best of that point and the limits on the
    boundary (alpha = inf: m = 0; beta = inf when rank F = n: exact interpolation), whose
    evidence is closed-form; a limit is returned with that precision as `inf`.
    """
    sigma, n = spec.sigma, spec.n
    x, rest = spec.project(y)
    tiny = 1e-12 * max(float(y @ y), 1e-12)  # keeps a perfect fit / zero target finite
    t_max = 1e10 * max(float(sigma.max(initial=0.0)), 1e-12)
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        t = alpha / beta
        gamma = float(np.sum(sigma / (sigma + t)))  # effective number of parameters
        m2 = float(np.sum(sigma * x**2 / (sigma + t) ** 2))  # ||m||^2
        res2 = float(np.sum((t / (sigma + t)) ** 2 * x**2)) + rest  # ||F m - y||^2
        alpha = max(gamma, 1e-12) / (m2 + tiny)
        beta = max(n - gamma, 1e-12) / (res2 + tiny)
        if abs(alpha / beta - t) <= tol * t or alpha / beta > t_max:
            break
    best = (_evidence(spec, x, rest, alpha, beta), alpha, beta)
    # The supremum may lie on a boundary, which the fixed point only creeps towards:
    yy = float(y @ y)
    if yy > 0:  # alpha -> infinity (m = 0, beta = n / ||y||^2): the features explain nothing
        at_inf = 0.5 * np.log(n / yy) - 0.5 - 0.5 * _LOG_2PI
        best = max(best, (float(at_inf), float("inf"), n / yy), key=lambda r: r[0])
    m2 = float(np.sum(x**2 / sigma))  # ||minimum-norm exact solution||^2
    if sigma.size == n and m2 > 0:  # rank n <= D: beta -> infinity (interpolation), alpha = n / m2
        at_inf = 0.5 * np.log(n / m2) - 0.5 - 0.5 * np.mean(np.log(sigma)) - 0.5 * _LOG_2PI
        best = max(best, (float(at_inf), n / m2, float("inf")), key=lambda r: r[0])
    return best


def logme_column(features: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The maximised evidence / n of one target column, with the maximising (alpha, beta)."""
    spec = _Spectrum(_as_features(features))
    return _maximise(spec, np.asarray(y, dtype=np.float64).reshape(-1))


def _as_features(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"logme: features must be [n >= 2, d], got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("logme: features contain NaN or infinite values")
    return f


def logme(features: np.ndarray, labels: np.ndarray, regression: bool = False) -> float:
    """LogME of `labels` given `features` ([n, d]); larger means more transferable.

    Classification: `labels` are int class positions, one one-hot column per class present.
    Regression: `labels` is [n] (or [n, k], one column each). Returns the mean evidence / n.
    """
    f = _as_features(features)
    y = np.asarray(labels)
    if y.shape[0] != f.shape[0]:
        raise ValueError(f"logme: {f.shape[0]} feature rows but {y.shape[0]} labels")
    if regression:
        cols = y.astype(np.float64).reshape(f.shape[0], -1)
        if not np.all(np.isfinite(cols)):
            raise ValueError("logme: regression targets contain NaN or infinite values")
        columns = [cols[:, j] for j in range(cols.shape[1])]
    else:
        y = y.reshape(-1)
        columns = [(y == c).astype(np.float64) for c in np.unique(y)]
    spec = _Spectrum(f)
    return float(np.mean([_maximise(spec, col)[0] for col in columns]))


def _logme_measure(target: TaskView, source_probs: np.ndarray | None = None) -> float:
    return logme(target.features, target.labels, regression=not target.is_classification)


register_measure(
    MeasureSpec(
        name="logme",
        kind="transfer",
        fn=_logme_measure,
        description="max log marginal evidence / n of Bayesian linear regression from the source "
        "encoder's features to the target (one-hot per class, mean over classes)",
        cheap=True,
        needs_source_probs=False,
        reference="You et al. 2021, ICML",
    )
)
