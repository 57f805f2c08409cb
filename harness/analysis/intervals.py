"""Confidence intervals for a mean over seeds.

Few seeds: Student's t interval, mean ± t(1 − α/2, n − 1) · s / √n. Many seeds
(n ≥ `BOOTSTRAP_FROM`): a seeded percentile bootstrap of the mean (`scipy.stats.bootstrap`),
which does not lean on normality once there are enough values to resample. One seed: none.

A t interval knows nothing of the metric's range: with 2 seeds, t(0.975, 1) = 12.7 and an
accuracy of 0.58 ± 0.10 gets [−0.68, 1.83]. Intervals shown are clipped to the range the
metric can take (`METRIC_RANGES`; a difference of two scores to twice it, `difference_range`)
and marked `CLIPPED_MARK` where a bound was cut; an interval that rests on fewer than
`FEW_SEEDS` seeds is marked `FEW_SEEDS_MARK` (see `INTERVAL_NOTE`). Tables that are files keep
the unclipped bounds in `*_unclipped` columns beside the clipped ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

BOOTSTRAP_FROM = 10
CONFIDENCE = 0.95
FEW_SEEDS = 3  # an interval over fewer seeds than this is marked

INF = math.inf
# the values each metric of `harness.metrics.METRICS` can take (a name not here: unbounded)
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "macro_f1": (0.0, 1.0),
    "mcc": (-1.0, 1.0),
    "pearson": (-1.0, 1.0),
    "spearman": (-1.0, 1.0),
    "mse": (0.0, INF),
}

FEW_SEEDS_MARK = "†"
CLIPPED_MARK = "‡"
INTERVAL_NOTE = (
    f"{FEW_SEEDS_MARK} the interval rests on fewer than {FEW_SEEDS} seeds: a t interval with "
    f"one degree of freedom is wide and says little. {CLIPPED_MARK} the interval reached past "
    "the values the metric can take and is cut at its range (accuracy and F1 in [0, 1], MCC, "
    "Pearson and Spearman in [−1, 1], MSE ≥ 0; a difference of two scores in twice that)."
)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    kind: str  # "t", "bootstrap" or "none"
    n: int
    clipped: bool = False  # a bound was cut at the metric's range (see `clip`)

    @property
    def few_seeds(self) -> bool:
        return self.kind != "none" and self.n < FEW_SEEDS

    def clip(self, bounds: tuple[float, float]) -> Interval:
        """This interval cut at `bounds` (`metric_range`), `clipped` when a bound moved."""
        low, high, cut = clip_bounds(self.low, self.high, bounds)
        return replace(self, low=low, high=high, clipped=cut)

    def __str__(self) -> str:
        return interval_text(self.low, self.high, self.kind, self.n, self.clipped)


def metric_range(metric: str | None) -> tuple[float, float]:
    """The values `metric` can take; (−∞, ∞) for a metric this module does not know."""
    return METRIC_RANGES.get(str(metric), (-INF, INF))


def difference_range(metrics: str | Iterable[str] | None) -> tuple[float, float]:
    """The values a difference of two scores of `metrics` can take (the widest over several)."""
    names = [metrics] if metrics is None or isinstance(metrics, str) else list(metrics)
    lows, highs = [], []
    for m in names:
        lo, hi = metric_range(m)
        lows.append(lo - hi)
        highs.append(hi - lo)
    return (min(lows), max(highs)) if lows else (-INF, INF)


def clip_bounds(low: float, high: float, bounds: tuple[float, float]) -> tuple[float, float, bool]:
    """`low`, `high` cut at `bounds`, and whether either moved (NaN stays NaN, unclipped)."""
    lo, hi = bounds
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return low, high, False
    new_low, new_high = max(low, lo), min(high, hi)
    return new_low, new_high, bool(new_low != low or new_high != high)


def interval_text(
    low: float, high: float, kind: str, n: int, clipped: bool = False, fmt: str = ".4f"
) -> str:
    """An interval as tables show it: `[0.3120, 1.0000] ‡ †` (`bs` for a bootstrap one), or ''."""
    if kind == "none" or low is None or (isinstance(low, float) and math.isnan(low)):
        return ""
    marks = (" bs" if kind == "bootstrap" else "") + (f" {CLIPPED_MARK}" if clipped else "")
    marks += f" {FEW_SEEDS_MARK}" if int(n) < FEW_SEEDS else ""
    return f"[{low:{fmt}}, {high:{fmt}}]{marks}"


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
    res = stats.bootstrap(
        (x,),
        np.mean,
        confidence_level=confidence,
        method="percentile",
        n_resamples=2000,
        rng=np.random.default_rng(seed),
    )
    return Interval(
        float(res.confidence_interval.low), float(res.confidence_interval.high), "bootstrap", n
    )
