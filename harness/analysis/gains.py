"""Seed aggregation and transfer gains, from run records alone.

Runs are pooled over seeds only when everything else that changes the number is the same:
the whole spec but the seed (backbone settings, method settings, budgets, `--limit`, task
versions; the source budget and source seed only when there is a source). That identity is
the row's `setting`.

    gain over scratch = mean(method from s) − mean(`scratch`)               same target, fraction,
    gain over base    = mean(method from s) − mean(same method, no source)  backbone, compute budget
                                                                            (epochs, steps, batch),
                                                                            limit, target version

Gains are signed so that positive is better, whatever the metric's direction (× −1 for
lower-is-better metrics such as mse). A negative gain over base is flagged as negative
transfer, and marked "within seed noise" when |gain| ≤ 2 standard errors of the difference
of the two seed means, √(s₁²/n₁ + s₀²/n₀).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.intervals import (
    FEW_SEEDS,
    clip_bounds,
    difference_range,
    mean_interval,
    metric_range,
)

# Δm and the distillation table live in `multitask_tables`; they are still importable from here.
from harness.analysis.multitask_tables import DELTA_M_MIN_REFERENCE as DELTA_M_MIN_REFERENCE
from harness.analysis.multitask_tables import KEPT_MIN_GAIN as KEPT_MIN_GAIN
from harness.analysis.multitask_tables import delta_m as delta_m
from harness.analysis.multitask_tables import distillation as distillation
from harness.predictions import Predictions, paired_bootstrap
from harness.spec import content_hash, spec_of

GLUE_TAG = (
    "glue"  # the GLUE average covers targets whose card has this tag (recorded with each run)
)
DISPLAY = ["backbone", "variant", "sources", "target", "fraction"]
NOISE_SE = 2.0


COMPUTE = (
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
)


def compute_budget(budget: dict[str, Any] | None) -> dict[str, Any]:
    """The part of a budget that fixes how much training a run gets (epochs, steps, batch):
    gains compare runs of the same compute; the learning rate and schedule are the method's own."""
    return {k: (budget or {}).get(k) for k in COMPUTE}


def setting_keys(spec: dict[str, Any]) -> dict[str, str]:
    """The identities a record is grouped and compared by (see the module docstring)."""
    target_version = (spec.get("task_versions") or {}).get(spec["target"])
    target = {
        "backbone": spec["backbone"],
        "target": spec["target"],
        "target_version": target_version,
        "fraction": float(spec["fraction"]),
        "limit": spec.get("limit"),
        "budget": compute_budget(spec.get("budget")),
        "max_train_samples": spec.get("max_train_samples"),
        "max_eval_samples": spec.get("max_eval_samples"),
        "max_test_samples": spec.get("max_test_samples"),
    }
    base = {
        **target,
        "budget": spec.get("budget"),
        "variant": spec["variant"],
        "method": spec["method"],
        "method_config": spec.get("method_config"),
    }
    setting = {
        **base,
        "sources": list(spec.get("sources") or []),
        "task_set": list(spec.get("task_set") or []),
    }
    if not setting["task_set"]:
        del setting["task_set"]
    grid = {k: v for k, v in base.items() if k not in ("target", "target_version")}
    if setting["sources"]:
        src = {"source_budget": spec.get("source_budget"), "source_seed": spec.get("source_seed")}
        setting.update(src, task_versions=spec.get("task_versions"))
        grid.update(src)
    return {
        "target_key": content_hash(target, 10),
        "base_key": content_hash(base, 10),
        "setting": content_hash(setting, 10),
        "grid_key": content_hash(grid, 10),
    }


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per successful run."""
    rows = []
    for r in records:
        if r.get("status") != "ok":
            continue
        s = r["spec"]
        rows.append(
            {
                "run_id": r["run_id"],
                "backbone": s["backbone"]["name"],
                "variant": s["variant"],
                "method": s["method"],
                "sources": spec_of(s).source_label,
                "target": s["target"],
                "fraction": float(s["fraction"]),
                "seed": s["seed"],
                "limit": s.get("limit"),
                "score": float(r["primary_score"]),
                "metric": r["primary_metric"],
                "direction": r.get("direction", "max"),
                "comparable": r.get("comparable", True),
                "glue": GLUE_TAG in (r.get("target_tags") or []),
                "task_set": "+".join(s.get("task_set") or []),
                "floor": _floor(r, "primary"),
                "floor_predict": _floor(r, "predict"),
                **setting_keys(s),
            }
        )
    return pd.DataFrame(rows)


def _floor(record: dict[str, Any], key: str) -> Any:
    floor = record.get("floor")
    value = floor.get(key) if isinstance(floor, dict) else None
    return np.nan if value is None else value


def _seed_stats(scores: pd.Series) -> pd.Series:
    ci = mean_interval(scores.to_numpy())
    std = float(scores.std(ddof=1)) if len(scores) > 1 else 0.0
    return pd.Series(
        {
            "mean": float(scores.mean()),
            "std": std,
            "n": len(scores),
            "ci_low": ci.low,
            "ci_high": ci.high,
            "ci_kind": ci.kind,
        }
    )


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """One row per setting: mean, std, seed count and confidence interval over seeds, with
    gains over scratch and over the same method without a source. `ci_low` / `ci_high` are cut
    at the metric's range (`ci_clipped` says where; the bounds before the cut are kept in
    `ci_low_unclipped` / `ci_high_unclipped`), and `few_seeds` marks an interval over fewer
    than `FEW_SEEDS` seeds (see `harness.analysis.intervals`)."""
    keys = ["setting", *DISPLAY, "target_key", "base_key", "grid_key"]
    g = df.groupby(keys, sort=True, dropna=False)
    stats = g["score"].apply(_seed_stats).unstack().reset_index()
    first = g.agg(
        metric=("metric", "first"),
        direction=("direction", "first"),
        method=("method", "first"),
        limit=("limit", "first"),
        comparable=("comparable", "all"),
        glue=("glue", "first"),
        floor=("floor", "first"),
        floor_predict=("floor_predict", "first"),
        seeds=("seed", lambda s: sorted(s.tolist())),
    ).reset_index()
    agg = stats.merge(first, on=keys)
    agg["n"] = agg["n"].astype(int)
    for col in ("mean", "std", "ci_low", "ci_high"):
        agg[col] = agg[col].astype(float)
    agg = with_clipped_interval(agg, [metric_range(m) for m in agg["metric"]], agg["n"])
    sign = agg["direction"].map({"max": 1.0, "min": -1.0}).fillna(1.0)
    scratch = agg[agg["method"] == "scratch"].groupby("target_key")["mean"].mean()
    none = agg[agg["sources"] == "none"]
    base_mean = none.groupby("base_key")["mean"].mean()
    base_se = none.assign(se=(none["std"] ** 2 / none["n"]) ** 0.5).groupby("base_key")["se"].mean()
    agg["gain_vs_scratch"] = (agg["mean"] - agg["target_key"].map(scratch)) * sign
    agg["gain_vs_base"] = (agg["mean"] - agg["base_key"].map(base_mean)) * sign
    agg.loc[agg["sources"] == "none", "gain_vs_base"] = np.nan
    agg["negative_transfer"] = agg["gain_vs_base"] < 0
    se = (agg["std"] ** 2 / agg["n"]) ** 0.5
    agg["gain_se"] = (se**2 + agg["base_key"].map(base_se) ** 2) ** 0.5
    agg["within_noise"] = agg["gain_vs_base"].abs() <= NOISE_SE * agg["gain_se"]
    return agg.sort_values(["backbone", "target", "fraction", "variant", "sources"]).reset_index(
        drop=True
    )


def with_clipped_interval(
    frame: pd.DataFrame, bounds: list[tuple[float, float]], seeds: Any
) -> pd.DataFrame:
    """`frame`'s `ci_low` / `ci_high` cut at each row's `bounds`, the uncut bounds kept in
    `ci_low_unclipped` / `ci_high_unclipped`, with `ci_clipped` and `few_seeds` (fewer than
    `FEW_SEEDS` seeds under an interval) beside them."""
    cut = [clip_bounds(lo, hi, b) for lo, hi, b in zip(frame["ci_low"], frame["ci_high"], bounds)]
    at = frame.columns.get_loc("ci_high") + 1
    out = frame.copy()
    for i, col in enumerate(("ci_low_unclipped", "ci_high_unclipped")):
        out.insert(at + i, col, frame["ci_low" if i == 0 else "ci_high"].astype(float))
    out["ci_low"] = [c[0] for c in cut]
    out["ci_high"] = [c[1] for c in cut]
    out.insert(at + 2, "ci_clipped", [c[2] for c in cut])
    has = out["ci_low"].notna()
    out.insert(at + 3, "few_seeds", has & (pd.Series(list(seeds), index=out.index) < FEW_SEEDS))
    return out


def glue_average(agg: pd.DataFrame) -> pd.DataFrame:
    """Mean primary score over the GLUE targets each (backbone, method, source, fraction, limit,
    budget) covers, with the number of tasks it rests on."""
    glue = agg[agg["glue"]]
    if glue.empty:
        return pd.DataFrame()
    keys = ["backbone", "variant", "sources", "fraction", "grid_key"]
    g = glue.groupby(keys)
    out = g.agg(
        limit=("limit", "first"), glue_average=("mean", "mean"), tasks=("target", "nunique")
    )
    return out.reset_index().drop(columns="grid_key")


def gain_matrices(agg: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per (backbone, method, fraction and the rest of the setting but target and source):
    sources × targets of the mean gain over no source. Settings that differ in a way the name
    does not show (budget, method settings) get a suffix with their key."""
    with_src = agg[(agg["sources"] != "none") & ~agg["sources"].str.startswith("{")]
    parts = {}
    for (bb, variant, frac, grid), part in with_src.groupby(
        ["backbone", "variant", "fraction", "grid_key"]
    ):
        limit = part["limit"].iloc[0]
        name = f"{bb}__{variant}__f{frac:g}" + (f"__limit{int(limit)}" if pd.notna(limit) else "")
        parts[(name, grid)] = part
    names = [name for name, _ in parts]
    out = {}
    for (name, grid), part in parts.items():
        key = f"{name}__{grid}" if names.count(name) > 1 else name
        out[key] = part.pivot_table(index="sources", columns="target", values="gain_vs_base")
    return out


def paired_differences(
    df: pd.DataFrame,
    reference: str = "finetune",
    predictions: dict[str, Predictions] | None = None,
) -> pd.DataFrame:
    """Every setting against single-task `reference` (no source, no task set) of the same
    backbone, target, fraction, limit and seed: the difference sign·(M − M_ref) per seed, its
    mean, a 95 % interval of the mean over seeds (t below 10 seeds) and the seeds it pairs.
    Pairing by seed removes what a seed does to both (the same training rows at a fraction).
    The interval is cut at the range a difference of the metric can take (`with_clipped_interval`).
    Where every run of a row and its references stored per-example `predictions` (by run id),
    `rows_ci_low`/`rows_ci_high` add a paired bootstrap over seeds and scored rows
    (`harness.predictions.paired_bootstrap`), which also holds the scored split's sampling noise."""
    ref_mask = (df["method"] == reference) & (df["sources"] == "none") & (df["task_set"] == "")
    ref = df[ref_mask]
    if ref.empty or len(ref) == len(df):
        return pd.DataFrame()
    keys = ["backbone", "target", "fraction", "limit_key", "seed"]
    ref = ref.assign(limit_key=ref["limit"].fillna(-1))
    other = df[~ref_mask].assign(limit_key=df["limit"].fillna(-1))
    index = pd.MultiIndex.from_frame(other[keys])
    if predictions:  # each run's reference run, to pair their predictions
        other = other.assign(ref_id=ref.groupby(keys)["run_id"].first().reindex(index).to_numpy())
    st = ref.groupby(keys)["score"].mean().reindex(index).to_numpy()
    sign = other["direction"].map({"max": 1.0, "min": -1.0}).fillna(1.0).to_numpy()
    other = other.assign(diff=sign * (other["score"].to_numpy() - st)).dropna(subset=["diff"])
    rows = []
    for (bb, variant, sources, target, fraction, _), g in other.groupby(
        ["backbone", "variant", "sources", "target", "fraction", "setting"], sort=True
    ):
        iv = mean_interval(g["diff"].to_numpy())
        rows.append(
            {
                "backbone": bb,
                "method": variant,
                "source": sources,
                "target": target,
                "fraction": fraction,
                "metric": g["metric"].iloc[0],
                f"Δ vs {reference}": g["diff"].mean(),
                "ci_low": iv.low,
                "ci_high": iv.high,
                "seeds": int(g["seed"].nunique()),
                **_rows_interval(g, predictions or {}),
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return with_clipped_interval(out, [difference_range(m) for m in out["metric"]], out["seeds"])


def _rows_interval(g: pd.DataFrame, predictions: dict[str, Predictions]) -> dict[str, float]:
    """The paired bootstrap over seeds and rows of one paired row, where every run has its
    predictions; NaN where some run has none."""
    if not predictions:
        return {"rows_ci_low": math.nan, "rows_ci_high": math.nan}
    pairs = [(predictions.get(a), predictions.get(b)) for a, b in zip(g["run_id"], g["ref_id"])]
    if not pairs or any(a is None or b is None for a, b in pairs):
        return {"rows_ci_low": math.nan, "rows_ci_high": math.nan}
    _, low, high = paired_bootstrap(g["metric"].iloc[0], pairs)
    if g["direction"].iloc[0] == "min":
        low, high = -high, -low
    return {"rows_ci_low": low, "rows_ci_high": high}


def pair_gains(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run from a single source with a no-source partner of the same setting and
    seed: columns variant, method, source, target, seed, gain (signed so positive is better)."""
    df = records_frame(records)
    if df.empty:
        return pd.DataFrame(columns=["variant", "method", "source", "target", "seed", "gain"])
    base = df[df["sources"] == "none"].set_index(["base_key", "seed"])["score"]
    base = base[~base.index.duplicated()]
    single = df[(df["sources"] != "none") & ~df["sources"].str.contains(r"\+|\{", regex=True)]
    rows = []
    for r in single.itertuples():
        key = (r.base_key, r.seed)
        if key in base.index:
            sign = -1.0 if r.direction == "min" else 1.0
            rows.append(
                {
                    "variant": r.variant,
                    "method": r.method,
                    "source": r.sources,
                    "target": r.target,
                    "seed": r.seed,
                    "gain": sign * (r.score - base[key]),
                }
            )
    return pd.DataFrame(rows, columns=["variant", "method", "source", "target", "seed", "gain"])
