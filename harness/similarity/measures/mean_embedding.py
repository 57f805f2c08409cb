"""Mean-embedding similarity: cosine of the two tasks' mean reference-feature vectors.

s(a, b) = <mu_a, mu_b> / (||mu_a|| ||mu_b||)     in [-1, 1]
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, TaskView, register_measure


def mean_embedding(features: np.ndarray) -> np.ndarray:
    """Mean feature vector [d] of `features` [n, d]."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"mean_embedding needs features of shape [n >= 1, d], got {x.shape}")
    return x.mean(axis=0)


def cosine_similarity(u: np.ndarray, v: np.ndarray) -> float:
    """<u, v> / (||u|| ||v||); ValueError for a zero vector."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if u.shape != v.shape:
        raise ValueError(f"cosine_similarity: shape mismatch {u.shape} vs {v.shape}")
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0.0 or nv == 0.0:
        raise ValueError("cosine_similarity: a mean embedding is the zero vector")
    return float(u @ v / (nu * nv))


def mean_embedding_similarity(a: TaskView, b: TaskView) -> float:
    """Cosine similarity of the two tasks' mean reference features."""
    return cosine_similarity(mean_embedding(a.features), mean_embedding(b.features))


register_measure(
    MeasureSpec(
        name="mean_embedding",
        kind="pair",
        fn=mean_embedding_similarity,
        description="cosine similarity of the two tasks' mean reference-feature vectors",
        cheap=True,
        reference="Vu et al. 2020, EMNLP (TextEmb)",
    )
)
