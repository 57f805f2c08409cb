"""Confidence intervals for a mean over seeds.

Few seeds: Student's t interval, mean ± t(1 − α/2, n − 1) · s / √n. Many seeds
(n ≥ `BOOTSTRAP_FROM`): a seeded percentile bootstrap of the mean (`scipy.stats.bootstrap`),
which does not lean on normality once there are enough values to resample. One seed: none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_FROM = 10
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    kind: str  # "t", "bootstrap" or "none"
    n: int

    def __str__(self) -> str:
        if self.kind == "none":
            return ""
        return f"[{self.low:.4f}, {self.high:.4f}]"


def mean_interval(
    values: Sequence[float], confidence: float = CONFIDENCE, seed: int = 0
) -> Interval:
    """A `confidence` interval for the mean of `values` (t for few, bootstrap for many)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        return Interval(math.nan, math.nan, "none", n)
    mean = float(x.mean())
    if n < BOOTSTRAP_FROM:
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
        return Interval(mean - half, mean + half, "t", n)
    if np.all(x == x[0]):
        return Interval(mean, mean, "bootstrap", n)
    res = stats.bootstrap((x,), np.mean, confidence_level=confidence, method="percentile",
                          n_resamples=2000, rng=np.random.default_rng(seed))  # fmt: skip
    return Interval(
        float(res.confidence_interval.low), float(res.confidence_interval.high), "bootstrap", n
    )
