"""When to transfer, measured: the classic guidance (little data and a similar source: a linear
head on frozen features; more data: fine-tune; a dissimilar source: beware) as a table filled
from the results.

Rows are the target's data fractions, columns the terciles of a similarity measure over the
(source, target) pairs that ran; each cell names the method with the best mean score there,
its margin over the runner-up, and the 95 % interval of that margin over the paired units
(source, target, seed) where both ran (cut at the range a difference of the metric can take,
and marked as `harness.analysis.intervals.interval_text` marks it).

Probes at every layer (`<family>@k`, #20) do not compete as n variants picked on test scores
(that would select on the test set): per paired unit they are two competitors, the last layer
as `<family>` and the "earlier layer" picked on validation as `<family>@earlier`
(`harness.analysis.depth.earlier_layer_records`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.depth import earlier_layer_records
from harness.analysis.gains import records_frame
from harness.analysis.intervals import difference_range, interval_text, mean_interval

TERCILES = ("low", "mid", "high")


def terciles(scores: pd.DataFrame) -> pd.Series:
    """Each (source, target) pair's tercile of the measure (`low` / `mid` / `high`), by rank so
    ties and few pairs still split evenly."""
    ranks = scores["score"].rank(method="first")
    labels = (
        pd.qcut(ranks, 3, labels=list(TERCILES))
        if len(scores) >= 3
        else pd.Series(["mid"] * len(scores))
    )
    return pd.Series(list(labels), index=pd.MultiIndex.from_frame(scores[["source", "target"]]))


def when_to_transfer(records: list[dict[str, Any]], scores: pd.DataFrame) -> pd.DataFrame:
    """The table (one row per fraction, one column per tercile) of `winner margin [interval] (n)`;
    layer probes enter as `<family>` (last layer) and `<family>@earlier` (see the module doc)."""
    df = records_frame(earlier_layer_records(records))
    if df.empty:
        return pd.DataFrame()
    single = df[
        (df["sources"] != "none") & ~df["sources"].str.contains(r"\+|\{", regex=True)
    ].copy()
    ran = set(zip(single["sources"], single["target"]))  # terciles of the pairs that ran
    scores = scores.dropna(subset=["score"])
    scores = scores[[(s, t) in ran for s, t in zip(scores["source"], scores["target"])]]
    if single.empty or scores.empty:
        return pd.DataFrame()
    tercile = terciles(scores)
    single["tercile"] = [tercile.get((s, t)) for s, t in zip(single["sources"], single["target"])]
    single = single.dropna(subset=["tercile"])
    single["signed"] = np.where(single["direction"] == "min", -single["score"], single["score"])
    cells: dict[tuple[float, str], str] = {}
    for (fraction, band), g in single.groupby(["fraction", "tercile"]):
        wide = g.pivot_table(
            index=["sources", "target", "seed"], columns="variant", values="signed"
        )
        if wide.shape[1] < 2:
            continue
        means = wide.mean().sort_values(ascending=False)
        best, second = means.index[0], means.index[1]
        diff = (wide[best] - wide[second]).dropna().to_numpy()
        ci = mean_interval(diff).clip(difference_range(g["metric"].unique()))
        shown = interval_text(ci.low, ci.high, ci.kind, ci.n, ci.clipped, "+.3f") or "[no interval]"
        cells[(fraction, band)] = f"{best} {diff.mean():+.3f} {shown} over {second} (n={len(diff)})"
    if not cells:
        return pd.DataFrame()
    fractions = sorted({f for f, _ in cells})
    table = pd.DataFrame(
        [{"fraction": f, **{b: cells.get((f, b), "") for b in TERCILES}} for f in fractions]
    )
    return table.rename(columns={b: f"{b} similarity" for b in TERCILES})
