"""Comparing k methods over N data sets (Demšar, "Statistical comparisons of classifiers over
multiple data sets", JMLR 7, 2006): the Friedman test on average ranks, the Nemenyi post-hoc
critical difference, and the critical-difference diagram.

For N data sets (here: target × fraction conditions) and k methods, rank the methods within
each data set (1 = best, ties get the average of the ranks they span) and average: R_j.

    Friedman      χ²_F = 12N / (k(k+1)) · (Σ_j R_j² − k(k+1)²/4)      ~ χ² with k − 1 df
    Iman–Davenport F_F = (N − 1) χ²_F / (N(k − 1) − χ²_F)             ~ F(k − 1, (k − 1)(N − 1))
    Nemenyi       CD  = q_α · √(k(k+1) / (6N)),  q_α = studentized range(1 − α; k, ∞) / √2

Two methods whose average ranks differ by at least CD differ significantly. The diagram puts
the average ranks on an axis and joins with a bar each maximal group of methods whose ranks
are all within CD of each other (not significantly different). The statistics are Demšar's
formulas without a tie correction (scipy's `friedmanchisquare` corrects for ties).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05


def rank_rows(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Ranks within each row (data set) of an N × k score matrix: 1 = best, ties averaged."""
    x = np.asarray(scores, dtype=float)
    return np.vstack([stats.rankdata(-row if higher_is_better else row) for row in x])


@dataclass(frozen=True)
class Friedman:
    chi2: float
    p_chi2: float
    ff: float  # Iman–Davenport
    p_ff: float


def friedman(avg_ranks: np.ndarray, n: int) -> Friedman:
    """Friedman's χ²_F and Iman–Davenport's F_F from the average ranks of k methods on n data sets."""
    r = np.asarray(avg_ranks, dtype=float)
    k = len(r)
    chi2 = 12 * n / (k * (k + 1)) * (float(np.sum(r**2)) - k * (k + 1) ** 2 / 4)
    p_chi2 = float(stats.chi2.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    ff = (n - 1) * chi2 / denom if denom > 0 else math.inf
    p_ff = float(stats.f.sf(ff, k - 1, (k - 1) * (n - 1))) if math.isfinite(ff) and n > 1 else 0.0
    return Friedman(chi2=chi2, p_chi2=p_chi2, ff=ff, p_ff=p_ff)


def q_alpha(k: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical value: the studentized range quantile (k groups, ∞ df) over √2."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """CD = q_α √(k(k+1)/(6N))."""
    return q_alpha(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))


def cliques(avg_ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Maximal runs (first, last index into the ranks sorted ascending) of at least two methods
    whose average ranks all lie within less than `cd` of each other."""
    r = np.sort(np.asarray(avg_ranks, dtype=float))
    spans = []
    for i in range(len(r)):
        j = i
        while j + 1 < len(r) and r[j + 1] - r[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in spans):
            spans.append((i, j))
    return spans


@dataclass(frozen=True)
class CDResult:
    names: list[str]  # sorted by average rank, best first
    avg_ranks: list[float]
    n: int  # data sets
    k: int  # methods
    friedman: Friedman
    cd: float
    alpha: float
    cliques: list[tuple[int, int]]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"method": self.names, "average rank": self.avg_ranks})

    def describe(self) -> str:
        f = self.friedman
        return (
            f"k = {self.k} methods on N = {self.n} conditions: Friedman χ²_F = {f.chi2:.3f} (p = {f.p_chi2:.3g}), "
            f"Iman–Davenport F_F = {f.ff:.3f} (p = {f.p_ff:.3g}); Nemenyi CD at α = {self.alpha:g}: "
            f"{self.cd:.3f}"
        )


def analyse(scores: pd.DataFrame, higher_is_better: bool = True, alpha: float = ALPHA) -> CDResult:
    """The analysis of a complete N (rows: data sets) × k (columns: methods) score table.
    `higher_is_better` may be a per-row boolean sequence (mixed metric directions)."""
    x = scores.to_numpy(dtype=float)
    if np.isnan(x).any():
        raise ValueError("the critical-difference analysis needs every method on every data set")
    better = np.broadcast_to(np.asarray(higher_is_better, dtype=bool), (len(x),))
    ranks = np.vstack([rank_rows(row[None, :], bool(b))[0] for row, b in zip(x, better)])
    avg = ranks.mean(axis=0)
    order = np.argsort(avg, kind="stable")
    n, k = x.shape
    cd = critical_difference(k, n, alpha)
    return CDResult(
        names=[str(scores.columns[i]) for i in order],
        avg_ranks=[float(avg[i]) for i in order],
        n=n,
        k=k,
        friedman=friedman(avg, n),
        cd=cd,
        alpha=alpha,
        cliques=cliques(avg, cd),
    )


def draw(result: CDResult, path: Path, title: str = "") -> list[Path]:
    """The classic diagram (PNG and SVG): an axis of average ranks (1, the best, on the left),
    each method hung from its rank, the CD as a scale bar, and a thick bar joining each group
    of methods that are not significantly different."""
    from harness.analysis.plots import _pyplot, _save

    plt = _pyplot()
    k, ranks = result.k, result.avg_ranks
    half = (k + 1) // 2
    n_bars = len(result.cliques)
    first_label = 0.35 + 0.12 * n_bars
    step = 0.28
    depth = first_label + step * max(half, k - half)
    fig, ax = plt.subplots(figsize=(7.0, 1.3 + 0.75 * depth))
    ax.set_xlim(0.6, k + 0.4)
    ax.set_ylim(-depth - 0.2, 1.1)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="black", lw=1)
    for t in np.arange(1, k + 0.01, 0.5):
        major = float(t).is_integer()
        ax.plot([t, t], [0, 0.1 if major else 0.05], color="black", lw=1)
        if major:
            ax.text(t, 0.16, f"{int(t)}", ha="center", va="bottom", fontsize=9)
    ax.plot([1, 1 + result.cd], [0.75, 0.75], color="black", lw=1.2)
    for x in (1, 1 + result.cd):
        ax.plot([x, x], [0.7, 0.8], color="black", lw=1.2)
    ax.text(1 + result.cd / 2, 0.85, f"CD = {result.cd:.2f}", ha="center", va="bottom", fontsize=8)
    for i, (name, r) in enumerate(zip(result.names, ranks)):
        if i < half:  # the better half to the left, best highest
            y = -(first_label + step * i)
            ax.plot([r, r, 0.9], [0, y, y], color="#333333", lw=0.8)
            ax.text(0.85, y, f"{name} ({r:.2f})", ha="right", va="center", fontsize=8)
        else:  # the worse half to the right, worst highest
            y = -(first_label + step * (k - 1 - i))
            ax.plot([r, r, k + 0.1], [0, y, y], color="#333333", lw=0.8)
            ax.text(k + 0.15, y, f"({r:.2f}) {name}", ha="left", va="center", fontsize=8)
    for j, (a, b) in enumerate(result.cliques):
        y = -(0.15 + 0.12 * j)
        ax.plot(
            [ranks[a] - 0.04, ranks[b] + 0.04],
            [y, y],
            color="black",
            lw=3.5,
            solid_capstyle="round",
        )
    if title:
        ax.set_title(title, fontsize=9, pad=4)
    return _save(fig, path)
