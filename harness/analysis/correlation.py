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

Beside each measure, the table gives the noise ceiling of the realised gain on the same pairs:
what the gain agrees with itself across seed replicates (`harness.analysis.noise_ceiling`).

Too few pairs to rank: the permutation test shuffles each target's scores among its own
sources, so over targets with n₁, n₂, … scored sources it has n₁!·n₂!·… orderings and can
never give p below `min_p` = 1 / that count. When `min_p` ≥ `ALPHA` (0.05) no ranking of those
pairs, however right, could be told from chance: 2 sources of one target (min p 0.5), 3 (0.17),
or two targets of 2 each (0.25) all fall short; one target needs at least 4 sources. Such a
row keeps its numbers in `correlation.csv` (with `min_p` and `rankable` = False beside them)
but every table shows its statistics as `n/a: 2 pairs` (`too_few_text`), and `recommend` never
takes its τ as evidence. The noise ceiling has no permutation test; it is shown as `n/a` over
fewer than `MIN_PAIRS` (4) pairs, the fewest any permutation test here could rank.

`scipy.stats` computes the rank statistics; the resampling is seeded, so reruns agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

# the noise ceiling lives in `noise_ceiling`; its names are still importable from here
from harness.analysis.kendall import kendall_tau_b
from harness.analysis.noise_ceiling import (
    CEILING_STATISTICS,
    _nan_to,
    noise_ceiling,
    seed_replicates,
)
from harness.analysis.noise_ceiling import NoiseCeiling as NoiseCeiling
from harness.analysis.noise_ceiling import family_ceiling as family_ceiling
from harness.analysis.noise_ceiling import replicate_description as replicate_description

STATISTICS = ("kendall_tau", "weighted_tau", "spearman_rho", "per_target_tau", "top1", "top3")
ALPHA = 0.05  # a row whose permutation test cannot reach p < ALPHA is too few pairs to rank
MIN_PAIRS = 4  # 4! = 24 orderings: the fewest pairs whose ranking can reach p < ALPHA


def min_p(sizes: Any) -> float:
    """The smallest p the within-target permutation test can give on targets with `sizes`
    scored sources: 1 / Π nₜ! (1.0 with no pairs)."""
    orderings = math.prod(math.factorial(int(n)) for n in sizes)
    return 1.0 / orderings if orderings < 10**300 else 0.0


def rankable(p_min: Any) -> bool:
    """Whether pairs whose permutation test bottoms out at `p_min` can be ranked at all."""
    return p_min is not None and not pd.isna(p_min) and float(p_min) < ALPHA


def too_few_text(pairs: Any, p_min: Any = None) -> str:
    """What a table shows in place of a statistic over too few pairs: `n/a: 2 pairs`, with the
    smallest p the permutation test could reach when there are enough pairs but too few per
    target (`n/a: 4 pairs, min p 0.25`)."""
    n = 0 if pairs is None or pd.isna(pairs) else int(pairs)
    text = f"n/a: {n} pair" + ("" if n == 1 else "s")
    if n >= MIN_PAIRS and p_min is not None and not pd.isna(p_min):
        text += f", min p {float(p_min):.2g}"
    return text


TOO_FEW_NOTE = (
    f"n/a: too few source→target pairs to rank: shuffling each target's scores among its own "
    f"sources gives so few orderings that the permutation test could not reach p < {ALPHA:g} "
    "whatever the measure did (one target needs at least 4 sources; min p = 1 / Π nₜ! over "
    "targets with nₜ sources)"
)


@dataclass
class Correlation:
    """One measure's statistics: point values, intervals and p-values, keyed by statistic."""

    value: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    p_value: dict[str, float]
    pairs: int
    targets: int
    min_p: float = math.nan  # the smallest p the permutation test can reach (see `min_p`)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pairs": self.pairs,
            "targets": self.targets,
            "min_p": self.min_p,
            "rankable": rankable(self.min_p),
        }
        for s in STATISTICS:
            out[s] = self.value[s]
            out[f"{s}_low"], out[f"{s}_high"] = self.low[s], self.high[s]
            out[f"{s}_p"] = self.p_value[s]
        return out


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
        out["kendall_tau"] = _nan_to(kendall_tau_b(x, y))
        out["weighted_tau"] = _nan_to(stats.weightedtau(x, y).statistic)
        out["spearman_rho"] = _nan_to(stats.spearmanr(x, y).statistic)
    taus, top1, top3 = [], [], []
    for idx in groups:
        if len(idx) < 2:
            continue
        gx, gy = x[idx], y[idx]
        if np.ptp(gx) > 0 and np.ptp(gy) > 0:
            taus.append(_nan_to(kendall_tau_b(gx, gy)))
        best = int(np.argmax(gy))
        order = np.argsort(-gx, kind="stable")
        top1.append(float(order[0] == best))
        top3.append(float(best in order[:3]))
    if taus:
        out["per_target_tau"] = float(np.mean(taus))
    if top1:
        out["top1"], out["top3"] = float(np.mean(top1)), float(np.mean(top3))
    return out


def correlate(
    runs: pd.DataFrame, scores: pd.DataFrame, n_boot: int = 1000, n_perm: int = 1000, seed: int = 0
) -> Correlation:
    """Statistics of one measure. `runs`: columns source, target, seed, gain (one row per run);
    `scores`: columns source, target, score (one row per pair). A seed's runs of a pair are
    one replicate (`seed_replicates`): the bootstrap resamples seeds, not runs."""
    rng = np.random.default_rng(seed)
    replicates = seed_replicates(runs)
    per_seed = replicates.groupby(["source", "target"])["gain"].apply(lambda s: s.to_numpy(float))
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
    return Correlation(
        value,
        low,
        high,
        p_value,
        pairs=len(pairs),
        targets=len(groups),
        min_p=min_p(map(len, groups)),
    )


CEILING_CAVEAT = (
    "a measure is scored against the mean gain over seeds, less noisy than one replicate, so it "
    "can exceed the ceiling"
)


def ceiling_text(value: float, low: float, high: float, seeds: Any, pairs: Any = None) -> str:
    """A ceiling as the tables show it: `+0.61 [+0.50, +0.70]`, or why there is none (one seed,
    or, when `pairs` is given, fewer than `MIN_PAIRS` of them: `n/a: 2 pairs`)."""
    n = 0 if seeds is None or pd.isna(seeds) else int(seeds)
    if n < 2:
        return f"n/a: {n} seed" + ("" if n == 1 else "s")
    if pairs is not None and not pd.isna(pairs) and int(pairs) < MIN_PAIRS:
        return too_few_text(pairs)
    if value is None or pd.isna(value):
        return "n/a: no ranking (tied gains or < 2 pairs)"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def ceiling_columns(table: pd.DataFrame, statistic: str) -> list[str]:
    """A `correlation.csv` table's ceiling of `statistic`, one `ceiling_text` per row."""
    cols = [table[f"ceiling_{statistic}{end}"] for end in ("", "_low", "_high")]
    pairs = table["ceiling_pairs"] if "ceiling_pairs" in table else [None] * len(table)
    return [
        ceiling_text(v, lo, hi, n, k)
        for v, lo, hi, n, k in zip(*cols, table["ceiling_seeds"], pairs)
    ]


def row_rankable(row: Any) -> bool:
    """Whether a `correlation.csv` row has enough pairs to rank: its `rankable`, or for a file
    written before that column, at least `MIN_PAIRS` pairs."""
    row = dict(row)
    flag = row.get("rankable")
    if flag is not None and not pd.isna(flag):
        return str(flag).strip().lower() in ("true", "1", "1.0")
    pairs = row.get("pairs")
    return pairs is not None and not pd.isna(pairs) and int(pairs) >= MIN_PAIRS


def statistic_text(row: Any, statistic: str, digits: int = 2) -> str:
    """One statistic of a `correlation.csv` row as tables show it: `+0.61 [+0.50, +0.70]`, ''
    where undefined, or `n/a: 2 pairs` where the row has too few pairs to rank (`rankable`)."""
    row = dict(row)
    if not row_rankable(row):
        return too_few_text(row.get("pairs"), row.get("min_p"))
    v = row.get(statistic)
    if v is None or pd.isna(v):
        return ""
    lo, hi = row.get(f"{statistic}_low"), row.get(f"{statistic}_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return f"{v:+.{digits}f}"
    return f"{v:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def ceiling_summary(row: Any) -> str:
    """One line on the noise ceiling from a `correlation.csv` row (or `NoiseCeiling.row()` with
    `ceiling_varies`): both statistics, or why there are none, and which seeds vary."""
    row = dict(row)
    seeds = row.get("ceiling_seeds")
    if seeds is None:
        return "noise ceiling: not computed (rerun `transferbench similarity --results DIR`)"
    varies = row.get("ceiling_varies")
    varies = "" if varies is None or pd.isna(varies) or not varies else f"; {varies}"
    n = 0 if pd.isna(seeds) else int(seeds)
    pairs = row.get("ceiling_pairs")
    pairs = "" if pairs is None or pd.isna(pairs) else f" ({int(pairs)} source→target pairs)"
    shown = {
        s: ceiling_text(
            row[f"ceiling_{s}"],
            row[f"ceiling_{s}_low"],
            row[f"ceiling_{s}_high"],
            n,
            row.get("ceiling_pairs"),
        )
        for s in CEILING_STATISTICS
    }
    head = "noise ceiling (Kendall τ between seed replicates of the realised gain"
    if n < 2:
        return f"{head}): {shown['kendall_tau']}{varies}"
    return (
        f"{head}, mean over {n * (n - 1) // 2} pair(s) of {n} seeds, 95 % bootstrap over "
        f"pairs): all pairs {shown['kendall_tau']}, per target {shown['per_target_tau']}{pairs}"
        f"{varies}; {CEILING_CAVEAT}"
    )


def correlation_table(
    runs: pd.DataFrame, scores: dict[str, pd.DataFrame], **kw: Any
) -> pd.DataFrame:
    """One row per measure (its `correlate` statistics and the noise ceiling of the realised gain
    on the same pairs): the rows with enough pairs to rank (`rankable`) first, best Kendall τ
    first within each."""
    rows, ceilings = [], {}
    have = set(zip(runs["source"], runs["target"]))
    for name, frame in scores.items():
        scored = frame.dropna(subset=["score"])
        used = frozenset(p for p in zip(scored["source"], scored["target"]) if p in have)
        if used not in ceilings:  # most measures score the same pairs: one ceiling for them
            n_boot, seed = kw.get("n_boot", 1000), kw.get("seed", 0)
            ceilings[used] = noise_ceiling(runs, used, n_boot=n_boot, seed=seed)
        rows.append({"measure": name, **correlate(runs, frame, **kw).row(), **ceilings[used].row()})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(
        ["rankable", "kendall_tau"], ascending=False, na_position="last", kind="stable"
    ).reset_index(drop=True)


def truth_readable(truth: pd.DataFrame) -> pd.DataFrame:
    """`known_relatedness.csv` as printed: a row with too few pairs to rank reads `n/a: 2
    pairs` in its statistics (the numbers stay in the file, beside `rankable`)."""
    view = truth.drop(columns=[c for c in ("min_p", "rankable") if c in truth]).astype(object)
    for i, (_, r) in enumerate(truth.iterrows()):
        for col in ("per_target_tau", "kendall_tau", "top1"):
            if col in view:
                v = "" if pd.isna(r[col]) else f"{r[col]:.3f}"
                if not row_rankable(r):
                    v = too_few_text(r["pairs"], r.get("min_p"))
                view.iloc[i, view.columns.get_loc(col)] = v
    return view
