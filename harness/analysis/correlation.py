"""How well a similarity measure predicts realised transfer gain.

Input: one row per (source, target, seed) with the gain of that run (`gain`) and one row per
(source, target) with the measure's score (NaN where the measure does not apply: that pair is
left out). For each measure:

- Kendall τ, weighted τ (top-weighted, `scipy.stats.weightedtau`) and Spearman ρ between the
  score and the seed-mean gain over all pairs; and Kendall τ per target over its sources,
  averaged over targets with at least two sources;
- top-1 and top-3 hit rates: the share of targets whose best realised source is the measure's
  first choice, or among its first three;
- a 95 % percentile-bootstrap interval for each (resampling the seeds of every pair, then the
  pairs within each target), and a one-sided permutation p-value (scores shuffled among the
  sources of each target: how often chance does at least as well).

`scipy.stats` computes the rank statistics; the resampling is seeded, so reruns agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

STATISTICS = ("kendall_tau", "weighted_tau", "spearman_rho", "per_target_tau", "top1", "top3")


@dataclass
class Correlation:
    """One measure's statistics: point values, intervals and p-values, keyed by statistic."""

    value: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    p_value: dict[str, float]
    pairs: int
    targets: int

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pairs": self.pairs, "targets": self.targets}
        for s in STATISTICS:
            out[s] = self.value[s]
            out[f"{s}_low"], out[f"{s}_high"] = self.low[s], self.high[s]
            out[f"{s}_p"] = self.p_value[s]
        return out


def _nan_to(value: float, default: float = math.nan) -> float:
    return (
        default
        if value is None or (isinstance(value, float) and math.isnan(value))
        else float(value)
    )


def rank_statistics(
    frame: pd.DataFrame, score: str = "score", gain: str = "gain"
) -> dict[str, float]:
    """The six statistics on a frame of (source, target, score, gain) rows, one per pair."""
    frame = frame.reset_index(drop=True)
    groups = [np.asarray(g) for g in frame.groupby("target", sort=True).indices.values()]
    return _statistics(frame[score].to_numpy(float), frame[gain].to_numpy(float), groups)


def _statistics(x: np.ndarray, y: np.ndarray, groups: list[np.ndarray]) -> dict[str, float]:
    """`rank_statistics` on arrays: scores `x`, gains `y`, and each target's row positions."""
    out = {s: math.nan for s in STATISTICS}
    if len(x) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
        out["kendall_tau"] = _nan_to(stats.kendalltau(x, y).statistic)
        out["weighted_tau"] = _nan_to(stats.weightedtau(x, y).statistic)
        out["spearman_rho"] = _nan_to(stats.spearmanr(x, y).statistic)
    taus, top1, top3 = [], [], []
    for idx in groups:
        if len(idx) < 2:
            continue
        gx, gy = x[idx], y[idx]
        if np.ptp(gx) > 0 and np.ptp(gy) > 0:
            taus.append(_nan_to(stats.kendalltau(gx, gy).statistic))
        best = int(np.argmax(gy))
        order = np.argsort(-gx, kind="stable")
        top1.append(float(order[0] == best))
        top3.append(float(best in order[:3]))
    if taus:
        out["per_target_tau"] = float(np.mean(taus))
    if top1:
        out["top1"], out["top3"] = float(np.mean(top1)), float(np.mean(top3))
    return out


def correlate(runs: pd.DataFrame, scores: pd.DataFrame, n_boot: int = 1000, n_perm: int = 1000,
              seed: int = 0) -> Correlation:  # fmt: skip
    """Statistics of one measure. `runs`: columns source, target, seed, gain (one row per run);
    `scores`: columns source, target, score (one row per pair)."""
    rng = np.random.default_rng(seed)
    per_seed = runs.groupby(["source", "target"])["gain"].apply(lambda s: s.to_numpy(float))
    pairs = scores.merge(
        per_seed.rename("gains").reset_index(), on=["source", "target"], how="inner"
    )
    # a measure that does not apply to a pair (LEEP from a regression source) leaves it out
    pairs = pairs.dropna(subset=["score"]).sort_values(["target", "source"]).reset_index(drop=True)
    pairs["gain"] = [float(np.mean(g)) for g in pairs["gains"]]
    value = rank_statistics(pairs)
    boots = {s: [] for s in STATISTICS}
    groups = [np.asarray(g) for g in pairs.groupby("target", sort=True).indices.values()]
    score = pairs["score"].to_numpy(float)
    seed_gains = list(pairs["gains"])
    for _ in range(n_boot):
        gain = np.array([np.mean(rng.choice(g, size=len(g))) for g in seed_gains])  # seeds
        picks = [rng.choice(idx, size=len(idx)) for idx in groups]  # pairs, within each target
        starts = np.cumsum([0, *map(len, picks[:-1])])
        regroup = [np.arange(st, st + len(p)) for st, p in zip(starts, picks)]
        rows = np.concatenate(picks)
        for s, v in _statistics(score[rows], gain[rows], regroup).items():
            if not math.isnan(v):
                boots[s].append(v)
    exceed = {s: 0 for s in STATISTICS}
    gain = pairs["gain"].to_numpy(float)
    for _ in range(n_perm):
        shuffled = score.copy()
        for idx in groups:
            shuffled[idx] = rng.permutation(score[idx])
        for s, v in _statistics(shuffled, gain, groups).items():
            if not math.isnan(v) and not math.isnan(value[s]) and v >= value[s] - 1e-12:
                exceed[s] += 1
    low = {s: float(np.percentile(boots[s], 2.5)) if boots[s] else math.nan for s in STATISTICS}
    high = {s: float(np.percentile(boots[s], 97.5)) if boots[s] else math.nan for s in STATISTICS}
    p_value = {
        s: (1 + exceed[s]) / (1 + n_perm) if not math.isnan(value[s]) else math.nan
        for s in STATISTICS
    }
    return Correlation(value, low, high, p_value, pairs=len(pairs), targets=len(groups))


def correlation_table(
    runs: pd.DataFrame, scores: dict[str, pd.DataFrame], **kw: Any
) -> pd.DataFrame:
    """One row per measure (its `correlate` statistics), best Kendall τ first."""
    rows = [
        {"measure": name, **correlate(runs, frame, **kw).row()} for name, frame in scores.items()
    ]
    table = pd.DataFrame(rows)
    return table.sort_values("kendall_tau", ascending=False, na_position="last").reset_index(
        drop=True
    )
