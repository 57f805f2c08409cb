"""Kendall's τ-b in numpy, for the loops that compute it thousands of times (bootstrap and
permutation replicates of the correlation tables and the noise ceiling), where
`scipy.stats.kendalltau`'s per-call overhead (~0.25 ms) dominated."""

from __future__ import annotations

import math

import numpy as np


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """(concordant − discordant) / √(n₀ − n₁) / √(n₀ − n₂) over every pair of rows, n₀ the pairs
    and n₁ / n₂ those tied in x / y; NaN when either is constant. The same expression and
    clipping to [−1, 1] as `scipy.stats.kendalltau` (variant b), so the values agree to the bit."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(x), 1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    untied_x, untied_y = int(np.count_nonzero(dx)), int(np.count_nonzero(dy))
    if untied_x == 0 or untied_y == 0:
        return math.nan
    con_minus_dis = int((dx * dy).sum())
    tau = con_minus_dis / np.sqrt(untied_x) / np.sqrt(untied_y)
    return float(min(1.0, max(-1.0, tau)))
