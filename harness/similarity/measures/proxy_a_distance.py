"""Proxy 𝒜-distance between two domains (Ben-David et al. 2007, 2010): how well a classifier
tells the two tasks' rows apart, seen through the same reference encoder.

A balanced sample of both (the smaller task's rows, and as many of the larger's, seeded) is
standardised and cut in half, stratified by domain; a logistic regression (L2, C = 1) learns
domain a against domain b on one half, and its error ε on the other half gives

    PAD = 2 (1 − 2ε),   cut to [0, 2]

0 for domains no linear classifier can tell apart, 2 for separable ones. Similarity = −PAD.
Labels are not used: this is a distance between the inputs' distributions, not the tasks.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure

SEED = 0
MAX_ROWS = 2000  # per domain: the classifier's cost stays bounded on large tasks


def _features(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(
            f"proxy_a_distance: {name} needs features of shape [n >= 2, d], got {x.shape}"
        )
    return x


def domain_error(a: np.ndarray, b: np.ndarray, seed: int = SEED) -> float:
    """Held-out error of a logistic regression telling rows of `a` from rows of `b`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    a, b = _features(a, "domain a"), _features(b, "domain b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"proxy_a_distance: feature widths differ ({a.shape[1]} vs {b.shape[1]})")
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b), MAX_ROWS)
    a = a[np.sort(rng.permutation(len(a))[:n])]
    b = b[np.sort(rng.permutation(len(b))[:n])]
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(n, dtype=int), np.ones(n, dtype=int)])
    x_fit, x_out, y_fit, y_out = train_test_split(
        x, y, test_size=0.5, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(x_fit)
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x_fit), y_fit)
    return float(np.mean(clf.predict(scaler.transform(x_out)) != y_out))


def proxy_a_distance(a: np.ndarray, b: np.ndarray, seed: int = SEED) -> float:
    """2 (1 − 2ε) from the held-out domain error ε, cut to [0, 2]."""
    return float(np.clip(2.0 * (1.0 - 2.0 * domain_error(a, b, seed)), 0.0, 2.0))


def pad_similarity(a: TaskView, b: TaskView) -> float:
    """−PAD of the two tasks' reference features (0: indistinguishable domains)."""
    return -proxy_a_distance(a.features, b.features)


register_measure(
    MeasureSpec(
        name="proxy_a_distance",
        kind="pair",
        fn=pad_similarity,
        description="negated proxy A-distance: 2(1 - 2 x held-out error) of a logistic "
        "regression telling the two tasks' reference features apart (a domain divergence)",
        cheap=True,
        reference="Ben-David et al. 2007, NeurIPS; Ben-David et al. 2010, Machine Learning",
    )
)
