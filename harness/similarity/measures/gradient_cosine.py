"""Gradient cosine: how far two tasks pull the shared encoder the same way during multi-task
training (Yu et al. 2020; Standley et al. 2020 use the same signal to group tasks).

    s(a, b) = mean over probe steps t of  <g_a(t), g_b(t)> / (||g_a(t)|| ||g_b(t)||)

where g_x(t) is task x's loss gradient on the shared encoder, on one fixed probe batch, at step
t of an `mtdnn` / `distill` task-set phase (`harness/multitask.py` measures it every
`grad_cosine_every` steps; records keep it as `extra.multitask.gradient_cosine_mean`, keyed
"a|b"). It is not computed from features: it is read from the runs' records, so it exists only
for pairs that were trained together. Where several runs (seeds, targets) measured one pair,
their mean is the score.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.similarity.registry import MeasureSpec, register_measure


def gradient_cosine_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """(source, target, score) rows, both orders of each task pair, averaged over the records
    that measured it; records without multi-task gradient cosines are ignored."""
    seen: dict[tuple[str, str], list[float]] = {}
    phases = set()  # one task-set phase serves many runs: count each phase once
    for rec in records:
        if rec.get("status") not in (None, "ok"):
            continue
        mt = (rec.get("extra") or {}).get("multitask") or {}
        cosines = mt.get("gradient_cosine_mean") or {}
        if not isinstance(cosines, dict):
            raise ValueError(
                f"record {rec.get('id', '?')}: extra.multitask.gradient_cosine_mean is not a "
                f"mapping of 'a|b' pairs"
            )
        key = tuple(sorted(cosines.items()))
        if not key or key in phases:
            continue
        phases.add(key)
        for pair, value in cosines.items():
            a, sep, b = str(pair).partition("|")
            if not sep or not a or not b:
                raise ValueError(
                    f"record {rec.get('id', '?')}: gradient cosine key {pair!r} is not 'a|b'"
                )
            if value is None or not math.isfinite(float(value)):
                continue
            seen.setdefault((a, b), []).append(float(value))
    rows = []
    for (a, b), values in sorted(seen.items()):
        score = sum(values) / len(values)
        rows += [
            {"source": a, "target": b, "score": score},
            {"source": b, "target": a, "score": score},
        ]
    return pd.DataFrame(rows, columns=["source", "target", "score"])


register_measure(
    MeasureSpec(
        name="gradient_cosine",
        kind="recorded",
        fn=gradient_cosine_frame,
        description="mean cosine between the two tasks' gradients on the shared encoder during a "
        "multi-task (mtdnn) phase, read from the runs' records",
        cheap=True,
        reference="Yu et al. 2020, NeurIPS (PCGrad); Standley et al. 2020, ICML",
    )
)
