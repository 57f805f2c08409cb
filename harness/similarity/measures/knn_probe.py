"""k-NN probe: the baseline every transferability measure has to beat.

The cross-validated accuracy of a k-nearest-neighbour classifier (Euclidean, uniform vote) that
predicts the target's labels from its features under the source encoder; for a regression
target, the cross-validated R^2 of k-NN regression. Out-of-fold predictions from seeded,
shuffled (stratified, for classes) folds are pooled and scored once.
"""

from __future__ import annotations

import warnings

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure

MAX_FOLDS = 5
MAX_K = 5


def knn_probe(
    features: np.ndarray,
    labels: np.ndarray,
    regression: bool = False,
    seed: int = 0,
    k: int = MAX_K,
    folds: int = MAX_FOLDS,
) -> float:
    """Cross-validated k-NN accuracy (classification) or R^2 (regression); larger is better.

    Classification: stratified `folds`-fold CV, fewer folds (at least 2) when the smallest class
    has fewer rows; k is lowered to the smallest class's size less one (at least 1) so a tiny
    class can still win a vote. Regression: `folds`-fold CV (at most n folds).
    """
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    n = f.shape[0] if f.ndim == 2 else 0
    if f.ndim != 2 or n < 2:
        raise ValueError(f"knn_probe: features must be [n >= 2, d], got shape {f.shape}")
    if y.size != n:
        raise ValueError(f"knn_probe: {n} feature rows but {y.size} labels")
    if not np.all(np.isfinite(f)):
        raise ValueError("knn_probe: features contain NaN or infinite values")
    if regression:
        y = y.astype(np.float64)
        n_folds = max(2, min(folds, n))
        cv = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
        k_eff = max(1, min(k, n - -(-n // n_folds)))  # at most the smallest training fold
        pred = cross_val_predict(KNeighborsRegressor(n_neighbors=k_eff), f, y, cv=cv)
        return float(r2_score(y, pred))
    _, counts = np.unique(y, return_counts=True)
    if counts.size < 2:
        raise ValueError("knn_probe: the target has a single class; accuracy says nothing")
    smallest = int(counts.min())
    n_folds = max(2, min(folds, smallest))
    k_eff = max(1, min(k, smallest - 1, n - -(-n // n_folds)))
    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    # with a one-row class StratifiedKFold still splits (and warns); keep the warning quiet
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        pred = cross_val_predict(KNeighborsClassifier(n_neighbors=k_eff), f, y, cv=cv)
    return float(np.mean(pred == y))


def _knn_measure(target: TaskView, source_probs: np.ndarray | None = None) -> float:
    return knn_probe(target.features, target.labels, regression=not target.is_classification)


register_measure(
    MeasureSpec(
        name="knn_probe",
        kind="transfer",
        fn=_knn_measure,
        description="the baseline every measure must beat: cross-validated k-NN accuracy "
        "(regression: R^2) of the target's labels from the source encoder's features",
        cheap=True,
        needs_source_probs=False,
        reference="baseline (Cover & Hart 1967, IEEE Trans. Inf. Theory)",
    )
)
