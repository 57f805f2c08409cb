"""The noise ceiling of the realised transfer gain, which `correlation.correlation_table`
puts beside each measure.

The noise ceiling (`noise_ceiling`) is what the realised gain agrees with itself across seed
replicates: Kendall τ between replicate r's gains and replicate r′'s (the gains of two seeds of
the same pairs), over all pairs and per target (averaged over targets as the measure's τ per
target is), then averaged over the pairs of replicates, with the same percentile bootstrap over
the pairs within each target. A replicate is one run seed: it re-draws the target run (its
training rows, head, batch order) and its no-source partner; the source encoders are trained
once per suite with its `source_seed` and shared by every seed (`replicate_description`), so
source-training noise is not in the ceiling. The measure's τ is against the mean gain over the
seeds, which is less noisy than one replicate, so a measure can exceed the ceiling; far below it,
the measure, not the gains' noise, is what limits its τ. With one seed there is no ceiling.

`scipy.stats` computes Kendall τ; the resampling is seeded, so reruns agree.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.kendall import kendall_tau_b

CEILING_STATISTICS = ("kendall_tau", "per_target_tau")


@dataclass
class NoiseCeiling:
    """Kendall τ of the realised gain with itself across seed replicates (see the module
    docstring): point values and 95 % intervals by statistic, and how many seeds it rests on."""

    value: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    seeds: list[Any]
    replicate_pairs: int
    pairs: int

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ceiling_seeds": len(self.seeds), "ceiling_pairs": self.pairs}
        for s in CEILING_STATISTICS:
            out[f"ceiling_{s}"] = self.value[s]
            out[f"ceiling_{s}_low"], out[f"ceiling_{s}_high"] = self.low[s], self.high[s]
        return out


def _nan_to(value: float, default: float = math.nan) -> float:
    """`value` as a float, `default` where it is None or NaN."""
    return (
        default
        if value is None or (isinstance(value, float) and math.isnan(value))
        else float(value)
    )


def _taus(x: np.ndarray, y: np.ndarray, groups: list[np.ndarray]) -> dict[str, float]:
    """Kendall τ over all rows and per group (averaged over groups), as
    `correlation._statistics` does."""
    out = {s: math.nan for s in CEILING_STATISTICS}
    if len(x) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
        out["kendall_tau"] = _nan_to(kendall_tau_b(x, y))
    taus = []
    for idx in groups:
        if len(idx) >= 2 and np.ptp(x[idx]) > 0 and np.ptp(y[idx]) > 0:
            taus.append(_nan_to(kendall_tau_b(x[idx], y[idx])))
    taus = [t for t in taus if not math.isnan(t)]
    if taus:
        out["per_target_tau"] = float(np.mean(taus))
    return out


def _ceiling(gains: np.ndarray, groups: list[np.ndarray]) -> dict[str, float]:
    """The mean over pairs of replicates (columns of `gains`) of their `_taus`; a pair of
    replicates uses the rows both have."""
    found: dict[str, list[float]] = {s: [] for s in CEILING_STATISTICS}
    for a, b in itertools.combinations(range(gains.shape[1]), 2):
        both = ~np.isnan(gains[:, a]) & ~np.isnan(gains[:, b])
        if both.sum() < 2:
            continue
        keep = np.cumsum(both) - 1  # new positions of the rows both replicates have
        sub = [keep[idx[both[idx]]] for idx in groups]
        for s, v in _taus(gains[both, a], gains[both, b], sub).items():
            if not math.isnan(v):
                found[s].append(v)
    return {s: float(np.mean(v)) if v else math.nan for s, v in found.items()}


def seed_replicates(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, target, seed): the mean gain of that seed's runs of the pair (its
    fractions, layers, variants), a seed being one replicate; runs without a gain left out.
    The gain matrix, its intervals, every measure's correlation and the noise ceiling all
    read a pair's gain as the mean of these rows, so they show the same number."""
    columns = ["source", "target", "seed", "gain"]
    kept = runs.dropna(subset=["gain"])
    if kept.empty:
        return pd.DataFrame(columns=columns)
    return kept.groupby(["source", "target", "seed"], as_index=False)["gain"].mean()[columns]


def noise_ceiling(
    runs: pd.DataFrame, pairs: Any = None, n_boot: int = 1000, seed: int = 0
) -> NoiseCeiling:
    """The noise ceiling of the realised gain. `runs`: columns source, target, seed, gain (one
    row per run, a seed being one replicate); `pairs`: the (source, target) pairs to use
    (default: all). The interval resamples the pairs within each target, as
    `correlation.correlate` does."""
    if pairs is not None:
        wanted = set(map(tuple, pairs))
        runs = runs[[(s, t) in wanted for s, t in zip(runs["source"], runs["target"])]]
    wide = seed_replicates(runs).pivot(index=["target", "source"], columns="seed", values="gain")
    wide = wide.sort_index()
    seeds = sorted(wide.columns.tolist())
    gains = wide[seeds].to_numpy(float)
    targets = wide.index.get_level_values("target")
    groups = [np.flatnonzero(targets == t) for t in sorted(set(targets))]
    nan = {s: math.nan for s in CEILING_STATISTICS}
    n_rep = len(seeds) * (len(seeds) - 1) // 2
    if len(seeds) < 2:
        return NoiseCeiling(nan, dict(nan), dict(nan), seeds, 0, len(wide))
    value = _ceiling(gains, groups)
    rng = np.random.default_rng(seed)
    boots: dict[str, list[float]] = {s: [] for s in CEILING_STATISTICS}
    for _ in range(n_boot):
        picks = [rng.choice(idx, size=len(idx)) for idx in groups]  # pairs, within each target
        starts = np.cumsum([0, *map(len, picks[:-1])])
        regroup = [np.arange(st, st + len(p)) for st, p in zip(starts, picks)]
        for s, v in _ceiling(gains[np.concatenate(picks)], regroup).items():
            if not math.isnan(v):
                boots[s].append(v)
    low = {s: float(np.percentile(b, 2.5)) if b else math.nan for s, b in boots.items()}
    high = {s: float(np.percentile(b, 97.5)) if b else math.nan for s, b in boots.items()}
    return NoiseCeiling(value, low, high, seeds, n_rep, len(wide))


def family_ceiling(table: pd.DataFrame, runs: pd.DataFrame, n_boot: int = 1000) -> dict[str, Any]:
    """The noise ceiling over all of `runs`' pairs (a family's): the row of
    `correlation.correlation_table` when a measure scored every pair (it is the same), else
    computed."""
    n_pairs = len(runs[["source", "target"]].drop_duplicates())
    if "ceiling_pairs" in table and (table["ceiling_pairs"] == n_pairs).any():
        row = table[table["ceiling_pairs"] == n_pairs].iloc[0]
        return {k: row[k] for k in table.columns if k.startswith("ceiling_")}
    return noise_ceiling(runs, n_boot=n_boot).row()


def replicate_description(records: list[dict[str, Any]], method: str | None = None) -> str:
    """Which seeds the replicates of the realised gain re-draw, read from the records of the
    single-source runs (of `method`): the run seed varies; the source seed is the suite's."""
    seeds, source_seeds = set(), set()
    for r in records:
        spec = r.get("spec") or {}
        if r.get("status") != "ok" or len(spec.get("sources") or []) != 1 or spec.get("task_set"):
            continue
        if method is None or spec.get("method") == method:
            seeds.add(spec.get("seed"))
            source_seeds.add(spec.get("source_seed", 0))
    if not seeds:
        return ""
    listed, fixed = (
        ", ".join(map(str, sorted(v, key=lambda x: (str(type(x)), x))))
        for v in (seeds, source_seeds)
    )
    if len(source_seeds) == 1:
        shared = (
            f"trained once (source_seed {fixed}) and shared by every replicate, so "
            "source-training noise is not in the ceiling"
        )
    else:
        shared = f"trained with source_seed {fixed}, pooled within each run seed"
    return (
        f"replicates re-draw the target run's seed ({listed}; it also seeds the no-source "
        f"partner); the source encoders are {shared}"
    )
