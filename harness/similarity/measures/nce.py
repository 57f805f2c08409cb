"""NCE: the negative conditional entropy of the target labels given the source's labels.

Tran et al. 2019, ICCV, "Transferability and Hardness of Supervised Classification Tasks". With Z
the source head's argmax label on each target row and the empirical joint P(y, z),

    NCE = -H(Y | Z) = sum_{y, z} P(y, z) log P(y | z).

Always <= 0, and 0 exactly when the target label is a function of the source label.
"""

from __future__ import annotations

import numpy as np

from harness.similarity.measures.leep import check_class_labels, check_source_probs
from harness.similarity.registry import MeasureSpec, NotApplicable, TaskView, register_measure


def nce(*, target_labels: np.ndarray, source_labels: np.ndarray) -> float:
    """-H(target_labels | source_labels), both [n] int class positions.

    Keyword-only: NCE is not symmetric, the reference code takes (source labels, target labels)
    and this function once took the reverse, so a positional call could be read either way.
    """
    y = check_class_labels(target_labels, "nce")
    z = check_class_labels(source_labels, "nce (source labels)")
    if y.size != z.size:
        raise ValueError(f"nce: {y.size} target labels but {z.size} source labels")
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0 / y.size)
    p_z = joint.sum(axis=0, keepdims=True)
    nz = joint > 0  # 0 log 0 = 0; columns with P(z) = 0 have no nonzero cells
    p_y_given_z = joint[nz] / np.broadcast_to(p_z, joint.shape)[nz]
    return float(np.sum(joint[nz] * np.log(p_y_given_z)))


def _nce_measure(target: TaskView, source_probs: np.ndarray | None) -> float:
    if not target.is_classification:
        raise NotApplicable(
            f"nce is for classification targets; task '{target.name}' is regression"
        )
    probs = check_source_probs(source_probs, np.asarray(target.labels).reshape(-1).size, "nce")
    return nce(target_labels=target.labels, source_labels=np.argmax(probs, axis=1))


register_measure(
    MeasureSpec(
        name="nce",
        kind="transfer",
        fn=_nce_measure,
        description="negative conditional entropy -H(Y|Z) of the target labels given the source "
        "head's argmax label (<= 0, 0 when Y is a function of Z)",
        cheap=True,
        needs_source_probs=True,
        reference="Tran et al. 2019, ICCV",
    )
)
