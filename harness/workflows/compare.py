"""`transferbench compare`: a results folder against a reference results folder, run group by
run group and metric, with a tolerance that comes from the seed-to-seed spread.

Runs are matched by their spec's content (the record's `spec`, hashed the way `RunSpec.id` is:
unset fields added after spec version 1 do not count), never by file name. A *run group* is a
spec without its seed: one backbone, method variant with its settings, sources or task set,
target, fraction, budgets and task versions. Its seeds are pooled.

For each group and each metric of the target card, with reference seed scores x (n₁ of them)
and new ones y (n₂), s² the sample variances:

    change    = mean(y) − mean(x)
    SE        = √(s₁²/n₁ + s₂²/n₂)         (Welch; a side with one seed borrows the other's s²)
    df        = Welch–Satterthwaite degrees of freedom
    tolerance = max(t(1 − α; df) · SE, floor)

A REGRESSION is a change in the metric's worse direction (down for `max` metrics such as
accuracy, up for `min` ones such as mse) larger than the tolerance: the one-sided Welch t-test
rejects "no worse" at level α, and the change clears the floor. A change as large in the
better direction is "improved". The floor (`--min_tolerance`) is what a group whose seeds all
score the same (SE 0: deterministic, or saturated at accuracy 1.0) or one seed on each side is
held to, in the metric's units. A new run that failed where the reference's succeeded is a
regression too.

Exit status: 1 on any regression (and, with `--fail_on_missing`, on reference runs missing from
the results), 0 otherwise; unusable input (a missing folder, a corrupt record, no run in common)
is a `DataError`, exit 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from harness.errors import ConfigError, DataError
from harness.spec import describe_label, spec_of
from harness.workflows.compare_sides import (
    Side,
    metric_direction,
    record_metrics,
    spec_diff,
)

ALPHA = 0.01  # one-sided level of the Welch test per group and metric
MIN_TOLERANCE = 0.005  # floor of the tolerance, in the metric's units (half a point of accuracy)


# --- the noise bound ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """How far a mean may move before seed noise no longer explains it."""

    tolerance: float
    se: float  # standard error of the difference of the means (nan: no spread measurable)
    df: float  # Welch–Satterthwaite degrees of freedom (nan with no spread)
    k: float  # t(1 − α; df), the multiple of SE (nan with no spread)
    basis: str  # "seeds" (k·SE) or "floor" (the floor was larger, or no spread)


def noise_bound(
    ref: Sequence[float], new: Sequence[float], alpha: float = ALPHA, floor: float = MIN_TOLERANCE
) -> Bound:
    """max(t(1 − α; df) · SE, floor) for the difference of the means of `new` and `ref`."""
    x, y = np.asarray(ref, float), np.asarray(new, float)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("noise_bound needs at least one value on each side")
    v1 = float(x.var(ddof=1)) if n1 > 1 else math.nan
    v2 = float(y.var(ddof=1)) if n2 > 1 else math.nan
    if n1 > 1 and n2 > 1:
        a, b = v1 / n1, v2 / n2
        se = math.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1)) if a + b > 0 else math.nan
    elif n1 > 1 or n2 > 1:  # one seed on one side: assume it varies as the other side does
        v, n = (v1, n1) if n1 > 1 else (v2, n2)
        se, df = math.sqrt(v * (1 / n1 + 1 / n2)), float(n - 1)
    else:
        se, df = math.nan, math.nan
    if se > 0 and math.isfinite(df):
        k = float(stats.t.ppf(1 - alpha, df))
        return Bound(max(k * se, floor), se, df, k, "seeds" if k * se >= floor else "floor")
    return Bound(floor, se, df, math.nan, "floor")


def judge(
    ref: Sequence[float],
    new: Sequence[float],
    direction: str,
    alpha: float = ALPHA,
    floor: float = MIN_TOLERANCE,
) -> dict[str, Any]:
    """Change of the mean from `ref` to `new`, its tolerance and status (ok / improved /
    REGRESSION), the one-sided p-value that `new` is worse, and the seed statistics."""
    x, y = np.asarray(ref, float), np.asarray(new, float)
    bound = noise_bound(x, y, alpha, floor)
    change = float(y.mean() - x.mean())
    worse = -change if direction == "max" else change  # > 0: moved the bad way
    p = float(stats.t.sf(worse / bound.se, bound.df)) if bound.se > 0 and bound.df > 0 else math.nan
    status = "ok"
    if worse > bound.tolerance:
        status = "REGRESSION"
    elif -worse > bound.tolerance:
        status = "improved"
    return {
        "reference_mean": float(x.mean()),
        "reference_std": _std(x),
        "reference_n": len(x),
        "new_mean": float(y.mean()),
        "new_std": _std(y),
        "new_n": len(y),
        "change": change,
        "tolerance": bound.tolerance,
        "se": bound.se,
        "df": bound.df,
        "k": bound.k,
        "basis": bound.basis,
        "p_value": p,
        "status": status,
    }


def _std(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else 0.0


# --- comparing --------------------------------------------------------------------------------


def _run_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {
        **spec_of(record["spec"]).label(),
        "seed": record["spec"]["seed"],
        "run_id": record["run_id"],
        "status": record["status"],
    }
    if record["status"] == "ok":
        row["score"] = float(record["primary_score"])
        row["metric"] = record["primary_metric"]
    else:
        row["error"] = str(record.get("error") or "?")
    return row


def _hints(only_ref: dict[str, dict], only_new: dict[str, dict]) -> list[str]:
    """For groups that look the same in both (same label) but did not match: what differs."""
    by_label: dict[str, dict] = {}
    for r in only_new.values():
        by_label.setdefault(describe_label(spec_of(r["spec"]).label()), r)
    hints, seen = [], set()
    for r in only_ref.values():
        name = describe_label(spec_of(r["spec"]).label())
        if name in by_label and name not in seen:
            seen.add(name)
            diff = spec_diff(r["spec"], by_label[name]["spec"])
            shown = ", ".join(diff[:6]) + (f" and {len(diff) - 6} more" if len(diff) > 6 else "")
            hints.append(f"{name}: the spec differs in {shown}")
    return hints


def compare(
    reference: Side, results: Side, alpha: float = ALPHA, floor: float = MIN_TOLERANCE
) -> dict[str, Any]:
    """Group by group and metric: reference and new seed statistics, the change, its
    tolerance and status; plus the runs only in one of the two and the failed ones."""
    only_ref = {k: r for k, r in reference.runs.items() if k not in results.runs}
    only_new = {k: r for k, r in results.runs.items() if k not in reference.runs}
    matched = len(reference.runs) - len(only_ref)
    if matched == 0:
        hints = _hints(only_ref, only_new)
        raise DataError(
            f"no run in --results {results.path} ({len(results.runs)} runs) has the spec of a run in "
            f"--reference {reference.path} ({len(reference.runs)} runs): nothing to compare"
            + ("; e.g. " + "; ".join(hints[:3]) if hints else "")
            + ". Compare runs of the same suite, or refresh the reference (docs/nightly.md)"
        )
    groups: dict[str, dict[str, Any]] = {}
    for side, runs in (("ref", reference.runs), ("new", results.runs)):
        for r in runs.values():
            g = groups.setdefault(
                spec_of(r["spec"]).group_key,
                {"label": spec_of(r["spec"]).label(), "ref": [], "new": []},
            )
            g[side].append(r)
    rows, failed, notes = [], [], [*reference.notes, *results.notes]
    for gkey, g in groups.items():
        ok_ref = [r for r in g["ref"] if r["status"] == "ok"]
        ok_new = [r for r in g["new"] if r["status"] == "ok"]
        ref_ok_keys = {spec_of(r["spec"]).key() for r in ok_ref}
        for r in g["new"]:
            if r["status"] != "ok":
                was_ok = spec_of(r["spec"]).key() in ref_ok_keys
                failed.append(
                    {
                        **_run_row(r),
                        "reference_status": "ok"
                        if was_ok
                        else ("failed" if spec_of(r["spec"]).key() in reference.runs else "absent"),
                        "regression": was_ok,
                    }
                )
        new_ok_keys = {spec_of(r["spec"]).key() for r in ok_new}
        for r in g["ref"]:
            if r["status"] != "ok" and spec_of(r["spec"]).key() in new_ok_keys:
                notes.append(
                    f"{describe_label(g['label'])}, seed {r['spec']['seed']}: failed in the "
                    f"reference ({r['run_id']}), succeeds now"
                )
        if not ok_ref or not ok_new:
            continue
        values_ref = [record_metrics(r) for r in ok_ref]
        values_new = [record_metrics(r) for r in ok_new]
        primary = ok_ref[0]["primary_metric"]
        names = sorted(
            {m for v in values_ref for m in v} | {m for v in values_new for m in v},
            key=lambda m: (m != primary, m),
        )
        for metric in names:
            x = [v[metric] for v in values_ref if metric in v]
            y = [v[metric] for v in values_new if metric in v]
            if not x or not y:
                notes.append(
                    f"{describe_label(g['label'])}: metric {metric} is only in the "
                    f"{'results' if y else 'reference'}; not compared"
                )
                continue
            direction = metric_direction(metric, ok_ref[0])
            rows.append(
                {
                    "group": gkey,
                    **g["label"],
                    "metric": metric,
                    "primary": metric == primary,
                    "direction": direction,
                    **judge(x, y, direction, alpha, floor),
                    "seeds_reference": sorted(r["spec"]["seed"] for r in ok_ref),
                    "seeds_new": sorted(r["spec"]["seed"] for r in ok_new),
                    "run_ids": sorted(r["run_id"] for r in ok_new),
                }
            )
    rows.sort(
        key=lambda r: (
            r["backbone"],
            r["target"],
            r["fraction"],
            r["variant"],
            r["source"],
            not r["primary"],
            r["metric"],
        )
    )
    regressions = [r for r in rows if r["status"] == "REGRESSION"]
    summary = {
        "groups_compared": len({r["group"] for r in rows}),
        "comparisons": len(rows),
        "runs_matched": matched,
        "regressions": len(regressions),
        "failed_regressions": sum(f["regression"] for f in failed),
        "improved": sum(r["status"] == "improved" for r in rows),
        "missing_runs": len(only_ref),
        "new_runs": len(only_new),
        "failed_runs": len(failed),
    }
    return {
        "reference": reference.summary(),
        "results": results.summary(),
        "rule": {
            "alpha": alpha,
            "min_tolerance": floor,
            "text": (
                f"REGRESSION when a group's mean moves the worse way by more than "
                f"max(t(1-alpha; Welch df) * SE, floor), SE = sqrt(s1^2/n1 + s2^2/n2) "
                f"over seeds; alpha = {alpha:g} one-sided, floor = {floor:g}"
            ),
        },
        "summary": summary,
        "rows": rows,
        "failed": failed,
        "missing": sorted((_run_row(r) for r in only_ref.values()), key=_row_order),
        "new": sorted((_run_row(r) for r in only_new.values()), key=_row_order),
        "hints": _hints(only_ref, only_new),
        "notes": notes,
    }


def _row_order(row: dict[str, Any]) -> tuple:
    return (
        row["backbone"],
        row["target"],
        row["fraction"],
        row["variant"],
        row["source"],
        row["seed"],
    )


def is_failure(report: dict[str, Any], fail_on_missing: bool = False) -> bool:
    s = report["summary"]
    return bool(
        s["regressions"] or s["failed_regressions"] or (fail_on_missing and s["missing_runs"])
    )


def check_level(alpha: float, floor: float) -> None:
    """A ConfigError naming the flag when the test level or the tolerance floor is out of range."""
    if not 0 < alpha < 0.5:
        raise ConfigError(f"--alpha {alpha:g}: must be between 0 and 0.5 (a one-sided test level)")
    if not (math.isfinite(floor) and floor >= 0):
        raise ConfigError(
            f"--min_tolerance {floor:g}: must be a number >= 0 (in the metric's units)"
        )
