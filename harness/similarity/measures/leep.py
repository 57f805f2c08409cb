"""LEEP: the log expected empirical prediction of the source head on the target labels.

Nguyen et al. 2020, ICML, "LEEP: A New Measure to Evaluate Transferability of Learned
Representations". With theta_i the source head's class probabilities on target row i,

    P(y, z) = 1/n sum_{i: y_i = y} theta_iz,   P(y | z) = P(y, z) / sum_y' P(y', z),
    LEEP = 1/n sum_i log sum_z P(y_i | z) theta_iz.

A mean log-likelihood: always <= 0, and larger (closer to 0) means more transferable.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.registry import MeasureSpec, NotApplicable, TaskView, register_measure


def check_source_probs(source_probs: np.ndarray | None, n: int, measure: str) -> np.ndarray:
    """`source_probs` as float64 [n, Z] rows on the simplex, or a ValueError naming `measure`."""
    if source_probs is None:
        raise ValueError(f"{measure} needs the source head's class probabilities (source_probs)")
    p = np.asarray(source_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != n:
        raise ValueError(f"{measure}: source_probs must be [{n}, Z], got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{measure}: source_probs must be finite and non-negative")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"{measure}: source_probs rows must sum to 1 (probabilities, not logits)")
    return p


def check_class_labels(labels: np.ndarray, measure: str) -> np.ndarray:
    """`labels` as an int array of class positions >= 0, or a ValueError naming `measure`."""
    y = np.asarray(labels).reshape(-1)
    if y.size == 0:
        raise ValueError(f"{measure}: no target rows")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{measure} needs int class labels (classification), got {y.dtype}")
        y = y.astype(np.int64)
    if np.any(y < 0):
        raise ValueError(f"{measure}: class labels must be positions >= 0")
    return y


def leep(*, target_labels: np.ndarray, source_probs: np.ndarray) -> float:
    """LEEP of `target_labels` ([n] int) given the source head's probabilities ([n, Z]).

    Keyword-only: the reference code takes (source probabilities, target labels), this function
    once took the reverse, so a positional call could be read either way.
    """
    y = check_class_labels(target_labels, "leep")
    theta = check_source_probs(source_probs, y.size, "leep")
    n = y.size
    joint = np.zeros((int(y.max()) + 1, theta.shape[1]))  # P(y, z)
    np.add.at(joint, y, theta / n)
    p_z = joint.sum(axis=0, keepdims=True)
    # a source class no row puts any mass on contributes nothing (theta_iz = 0 for every i)
    p_y_given_z = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)
    eep = np.einsum("iz,iz->i", theta, p_y_given_z[y])  # sum_z P(y_i | z) theta_iz
    return float(np.mean(np.log(eep)))


def _leep_measure(target: TaskView, source_probs: np.ndarray | None) -> float:
    if not target.is_classification:
        raise NotApplicable(
            f"leep is for classification targets; task '{target.name}' is regression"
        )
    return leep(target_labels=target.labels, source_probs=source_probs)


register_measure(
    MeasureSpec(
        name="leep",
        kind="transfer",
        fn=_leep_measure,
        description="log expected empirical prediction: mean log-likelihood of the target labels "
        "under the source head's probabilities mapped by the empirical P(y|z) (<= 0)",
        cheap=True,
        needs_source_probs=True,
        reference="Nguyen et al. 2020, ICML",
    )
)
