"""The multi-task tables, from run records alone: Δm, the relative gain of a multi-task
method over single-task fine-tuning (`delta_m`, on `harness.analysis.gains.records_frame` rows),
and how much of its teachers' ensemble gain a distilled student keeps (`distillation`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

DELTA_M_MIN_REFERENCE = 0.05  # |M_st| below this: the task leaves Δm's relative mean (see delta_m)


def delta_m(
    df: pd.DataFrame, reference: str = "finetune", min_reference: float = DELTA_M_MIN_REFERENCE
) -> pd.DataFrame:
    """Δm, the multi-task relative gain (Maninis et al. 2019; Vandenhende et al. 2021; LibMTL's
    `count_improvement`): for each multi-task method and seed, the mean over its targets of
    sign·(M_mt − M_st)/|M_st| in %, against single-task fine-tuning (`reference` without a
    source) of the same backbone, target, fraction and limit and the same seed; then mean and
    spread over seeds. The sign is −1 for lower-is-better metrics.

    A relative change is meaningless against a reference near zero (CoLA's MCC of −0.008 turns
    any multi-task MCC near 0 into +100 %), so a target whose single-task score |M_st| is below
    `min_reference` (in the metric's units; 0.05 suits metrics in [0, 1] or [−1, 1]) on any
    seed is left out of the relative mean on every seed, and shown instead in `left_out` as its
    absolute difference sign·(M_mt − M_st), mean over seeds, with the seeds that put it there
    ("cola: +0.008 abs (single-task −0.008, |M_st| < 0.05 on every seed)"; "... (single-task
    +0.076, |M_st| < 0.05 on seed 0: +0.020)"). `tasks` counts the targets compared, `tasks_in_mean` those Δm
    averages; with none left, Δm is undefined (NaN)."""
    multi = df[df["task_set"] != ""]
    if multi.empty:
        return pd.DataFrame()
    ref = df[(df["method"] == reference) & (df["sources"] == "none") & (df["task_set"] == "")]
    ref_keys = ["backbone", "target", "fraction", "limit_key", "seed"]
    ref = ref.assign(limit_key=ref["limit"].fillna(-1)).groupby(ref_keys)["score"].mean()
    multi = multi.assign(limit_key=multi["limit"].fillna(-1))
    idx = pd.MultiIndex.from_frame(multi[ref_keys])
    st = ref.reindex(idx).to_numpy()
    sign = multi["direction"].map({"max": 1.0, "min": -1.0}).fillna(1.0).to_numpy()
    diff = sign * (multi["score"].to_numpy() - st)
    multi = multi.assign(st=st, diff=diff, rel=100.0 * diff / np.abs(st)).dropna(subset=["diff"])
    if multi.empty:
        return pd.DataFrame()
    keys = ["backbone", "variant", "task_set", "fraction", "grid_key"]
    near_zero = multi.groupby([*keys, "target"])["st"].transform(
        lambda s: bool((s.abs() < min_reference).any())
    )
    multi = multi.assign(near_zero=near_zero.astype(bool))
    kept = multi[~multi["near_zero"]]
    per_seed = (
        kept.groupby([*keys, "seed"])
        .agg(rel=("rel", "mean"), tasks_in_mean=("target", "nunique"))
        .reset_index()
    )
    out = multi.groupby(keys).agg(tasks=("target", "nunique"), seeds=("seed", "nunique"))
    stats = per_seed.groupby(keys).agg(
        delta_m=("rel", "mean"), std=("rel", "std"), tasks_in_mean=("tasks_in_mean", "min")
    )
    out = out.join(stats).reset_index()
    out["std"] = out["std"].fillna(0.0).where(out["delta_m"].notna())
    out["tasks_in_mean"] = out["tasks_in_mean"].fillna(0).astype(int)
    out["left_out"] = [
        _left_out(multi[multi["near_zero"]], keys, row, min_reference)
        for row in out[keys].itertuples(index=False)
    ]
    out = out[[*keys, "delta_m", "std", "seeds", "tasks", "tasks_in_mean", "left_out"]]
    return out.drop(columns="grid_key")


def _left_out(near: pd.DataFrame, keys: list[str], row: tuple, min_reference: float) -> str:
    """The targets of one Δm row left out of its relative mean: their absolute difference, and
    the seeds whose single-task score is near zero (a mean over seeds can be well above it)."""
    mine = near
    for k, v in zip(keys, row):
        mine = mine[mine[k] == v]
    out = []
    for target, g in mine.groupby("target", sort=True):
        st = g.groupby("seed")["st"].first()
        low = st[st.abs() < min_reference]
        where = (
            "on every seed"
            if len(low) == len(st)
            else "on seed " + ", ".join(f"{seed}: {v:+.3f}" for seed, v in low.items())
        )
        out.append(
            f"{target}: {g['diff'].mean():+.3f} abs (single-task {st.mean():+.3f}, "
            f"|M_st| < {min_reference:g} {where})"
        )
    return "; ".join(out)


KEPT_MIN_GAIN = 0.01  # below this ensemble gain over its teachers, "kept" is a ratio of noise


def distillation(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Per distilled task and fraction: the teachers' mean score, the ensemble's, the multi-task
    student's and the fine-tuned student's, each the mean over seeds (teachers and student are
    trained once per fraction and seed when the task is a target in the set, else once), and
    how much of the ensemble's gain over a single teacher the student keeps:
    (student − teacher mean) / (ensemble − teacher mean), on those means; left out (with a
    note) when the ensemble beats its teachers by less than `KEPT_MIN_GAIN`, where the ratio
    of two near-zero differences would read as "kept 750 %"."""
    rows = []
    for r in records:
        teachers = (r.get("extra") or {}).get("teachers")
        if r.get("status") != "ok" or not teachers:
            continue
        s = r["spec"]
        for task, t in teachers.items():
            student = r["extra"]["multitask"]["tasks"].get(task, {}).get("primary")
            rows.append(
                {
                    "backbone": s["backbone"]["name"],
                    "variant": s["variant"],
                    "task": task,
                    "fraction": float(s["fraction"]),
                    "seed": s["seed"],
                    "metric": t["metric"],
                    "teachers": len(t["teacher_scores"]),
                    "teacher_mean": t["teacher_mean"],
                    "ensemble": t["ensemble"],
                    "student": student,
                    "student_finetuned": r["primary_score"] if s["target"] == task else np.nan,
                }
            )
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    keys = ["backbone", "variant", "task", "fraction", "metric", "teachers"]
    phase = (
        df.groupby([*keys, "seed"])
        .agg(
            teacher_mean=("teacher_mean", "first"),
            ensemble=("ensemble", "first"),
            student=("student", "first"),
            student_finetuned=("student_finetuned", "mean"),
        )
        .reset_index()
    )
    out = (
        phase.groupby(keys)
        .agg(
            teacher_mean=("teacher_mean", "mean"),
            ensemble=("ensemble", "mean"),
            student=("student", "mean"),
            student_finetuned=("student_finetuned", "mean"),
            seeds=("seed", "nunique"),
        )
        .reset_index()
    )
    gap = out["ensemble"] - out["teacher_mean"]
    enough = gap >= KEPT_MIN_GAIN
    out["kept"] = np.where(
        enough, (out["student"] - out["teacher_mean"]) / gap.where(enough), np.nan
    )
    out["note"] = [
        "" if ok else f"ensemble gain {g:+.4f} < {KEPT_MIN_GAIN}: no gain to keep"
        for ok, g in zip(enough, gap)
    ]
    return out
