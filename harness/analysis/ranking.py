"""Ranked leaderboard tables over submissions and baselines.

A *condition* is one (backbone settings, target and its card version, fraction, test-sample cap):
what a score is a score of. An *entry* is what is ranked: a baseline (a built-in method under
its own name) or a submission's method, each with its source. Per entry and condition: the
mean primary score over seeds with its 95 % interval (`harness.analysis.intervals`: cut at
the metric's range, `ci_clipped` where it was, the uncut bounds in `ci_*_unclipped`,
`few_seeds` under 3 seeds), the rank among the entries of that condition (1 = best, ties
share the average rank), the difference to the best baseline of the condition (signed so
positive is better) and whether it is significant over seeds by a paired test (`paired_test`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.analysis.intervals import mean_interval, metric_range
from harness.spec import content_hash, spec_of

BASELINE = "baseline"
ALPHA = 0.05


def run_row(record: dict[str, Any], suite: str, who: str, modality: str = "") -> dict[str, Any]:
    """One run as a row of the frame `ranked_table` reads."""
    s = record["spec"]
    source = spec_of(s).source_label
    label = (
        s["variant"]
        + ("" if source == "none" else f" ← {source}")
        + ("" if who == BASELINE else f" [{who}]")
    )
    condition = {
        "backbone": s["backbone"],
        "target": s["target"],
        "version": (s.get("task_versions") or {}).get(s["target"]),
        "fraction": float(s["fraction"]),
        "max_test_samples": s.get("max_test_samples"),
    }
    return {
        "suite": suite,
        "submission": who,
        "method": s["variant"],
        "source": source,
        "entry": label,
        "modality": modality,
        "backbone": s["backbone"]["name"],
        "target": s["target"],
        "fraction": float(s["fraction"]),
        "condition": content_hash(condition, 10),
        "metric": record["primary_metric"],
        "direction": record.get("direction", "max"),
        "seed": int(s["seed"]),
        "score": float(record["primary_score"]),
        "run_id": record["run_id"],
    }


def paired_test(a: dict[int, float], b: dict[int, float]) -> tuple[int, float]:
    """(pairs, two-sided p) of the paired t-test (`scipy.stats.ttest_rel`) between two entries'
    scores on the seeds both have.

    Paired by seed because a seed fixes the target's training subset, the initialisation and
    the batch order for both, so the pairs share that variance and the test sees only the
    methods' difference. The t-test rather than Wilcoxon's signed-rank test: suites run 2 to 5
    seeds, and with n ≤ 5 pairs the smallest two-sided exact p of the signed-rank test is
    2/2ⁿ ≥ 0.0625, so it could never call a difference significant at 5 %; the t-test can,
    at the price of assuming roughly normal seed differences. Fewer than 2 pairs: p is NaN.
    Differences that are all equal give p = 0 (all different from 0) or 1 (all 0)."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return len(seeds), math.nan
    d = np.array([a[s] - b[s] for s in seeds])
    if np.allclose(d, d[0], rtol=0, atol=1e-12):
        return len(seeds), 0.0 if abs(d[0]) > 1e-12 else 1.0
    return len(seeds), float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)


def ranked_table(runs: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (suite, condition, entry), ranked within its condition (see module doc)."""
    rows = []
    for (suite, condition), part in runs.groupby(["suite", "condition"], sort=False):
        sign = 1.0 if part["direction"].iloc[0] == "max" else -1.0
        entries = {}
        for entry, g in part.groupby("entry", sort=False):
            raw = mean_interval(g["score"].to_numpy())
            ci = raw.clip(metric_range(g["metric"].iloc[0]))  # the uncut bounds stay in *_unclipped
            entries[entry] = {
                "g": g,
                "mean": float(g["score"].mean()),
                "ci": ci,
                "raw": raw,
                "by_seed": dict(zip(g["seed"], g["score"])),
            }
        names = list(entries)
        ranks = stats.rankdata([-sign * entries[e]["mean"] for e in names])
        baselines = [e for e in names if entries[e]["g"]["submission"].iloc[0] == BASELINE]
        best = max(baselines, key=lambda e: sign * entries[e]["mean"]) if baselines else None
        for e, rank in zip(names, ranks):
            info, g = entries[e], entries[e]["g"]
            first = g.iloc[0]
            delta, p, pairs = math.nan, math.nan, 0
            if best is not None and e != best:
                delta = sign * (info["mean"] - entries[best]["mean"])
                pairs, p = paired_test(info["by_seed"], entries[best]["by_seed"])
            rows.append(
                {
                    "suite": suite,
                    "modality": first["modality"],
                    "backbone": first["backbone"],
                    "target": first["target"],
                    "fraction": first["fraction"],
                    "metric": first["metric"],
                    "direction": first["direction"],
                    "submission": first["submission"],
                    "method": first["method"],
                    "source": first["source"],
                    "entry": e,
                    "mean": info["mean"],
                    "ci_low": info["ci"].low,
                    "ci_high": info["ci"].high,
                    "ci_kind": info["ci"].kind,
                    "ci_clipped": info["ci"].clipped,
                    "ci_low_unclipped": info["raw"].low,
                    "ci_high_unclipped": info["raw"].high,
                    "few_seeds": info["ci"].few_seeds,
                    "seeds": len(g),
                    "rank": float(rank),
                    "best_baseline": best or "",
                    "delta_vs_best_baseline": delta,
                    "pairs": pairs,
                    "p_value": p,
                    "significant": bool(p < alpha) if not math.isnan(p) else False,
                    "condition": condition,
                    "run_ids": sorted(g["run_id"]),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.sort_values(
        ["suite", "modality", "backbone", "target", "fraction", "rank"]
    ).reset_index(drop=True)


def score_matrix(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Conditions × entries of mean scores signed so higher is better, restricted to the entries
    present in every condition (the complete block the Friedman test needs); also the entries
    left out."""
    signed = table.assign(signed=np.where(table["direction"] == "max", 1.0, -1.0) * table["mean"])
    m = signed.pivot_table(index="condition", columns="entry", values="signed", aggfunc="first")
    complete = [c for c in m.columns if m[c].notna().all()]
    return m[complete], sorted(set(m.columns) - set(complete))
