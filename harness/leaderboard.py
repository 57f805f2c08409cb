"""Leaderboards and source×target gain matrices, built from run records alone (pandas + tabulate).

gain over scratch  = mean score of (method, source) − mean score of `scratch`        (same target, fraction, backbone)
gain over base     = mean score of (method, source) − mean score of (method, none)  (the same method without a source)
Gains are signed so that positive is better, whatever the metric's direction; a negative
gain over base is flagged as negative transfer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from harness.records import load_records

FORMATS = ("md", "latex", "html", "csv")
KEYS = ["backbone", "variant", "sources", "target", "fraction"]


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per successful run."""
    rows = []
    for r in records:
        if r.get("status") != "ok":
            continue
        s = r["spec"]
        rows.append({"run_id": r["run_id"], "backbone": s["backbone"]["name"], "variant": s["variant"], "method": s["method"],
                     "sources": "+".join(s["sources"]) or "none", "target": s["target"], "fraction": float(s["fraction"]),
                     "seed": s["seed"], "score": float(r["primary_score"]), "metric": r["primary_metric"],
                     "direction": r.get("direction", "max"), "comparable": r.get("comparable", True),
                     "glue": s["target"] in GLUE_TASKS})  # fmt: skip
    return pd.DataFrame(rows)


GLUE_TASKS = {
    "cola",
    "sst2",
    "mrpc",
    "stsb",
    "qqp",
    "mnli",
    "mnli_mismatched",
    "qnli",
    "rte",
    "wnli",
}


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and number of seeds per (backbone, method, sources, target, fraction),
    with gains over scratch and over the same method without a source."""
    g = df.groupby(KEYS, sort=True)
    agg = g.agg(mean=("score", "mean"), std=("score", "std"), n=("score", "size"), metric=("metric", "first"),
                direction=("direction", "first"), method=("method", "first"),
                comparable=("comparable", "all"), glue=("glue", "first")).reset_index()  # fmt: skip
    agg["std"] = agg["std"].fillna(0.0)
    sign = agg["direction"].map({"max": 1.0, "min": -1.0}).fillna(1.0)
    scratch = (
        agg[agg["method"] == "scratch"].groupby(["backbone", "target", "fraction"])["mean"].mean()
    )
    base = agg[agg["sources"] == "none"].set_index(["backbone", "variant", "target", "fraction"])[
        "mean"
    ]
    idx_s = pd.MultiIndex.from_frame(agg[["backbone", "target", "fraction"]])
    idx_b = pd.MultiIndex.from_frame(agg[["backbone", "variant", "target", "fraction"]])
    agg["gain_vs_scratch"] = (agg["mean"].values - scratch.reindex(idx_s).values) * sign
    agg["gain_vs_base"] = (agg["mean"].values - base.reindex(idx_b).values) * sign
    agg.loc[agg["sources"] == "none", "gain_vs_base"] = float("nan")
    agg["negative_transfer"] = agg["gain_vs_base"] < 0
    # standard error of the difference of two seed means: a gap inside 2 SE is within seed noise
    se = (agg["std"] ** 2 / agg["n"]).pow(0.5)
    base_se = (agg.set_index(["backbone", "variant", "target", "fraction"]).loc[lambda d: d["sources"] == "none"]
               .pipe(lambda d: (d["std"] ** 2 / d["n"]).pow(0.5)).reindex(idx_b).values)  # fmt: skip
    agg["gain_se"] = (se.values**2 + base_se**2) ** 0.5
    agg["within_noise"] = agg["gain_vs_base"].abs() <= 2 * agg["gain_se"]
    return agg


def _fmt_gain(x: float) -> str:
    return "" if pd.isna(x) else f"{x:+.4f}"


def leaderboard_table(agg: pd.DataFrame) -> pd.DataFrame:
    """The long table people read: one row per (backbone, method, source, target, fraction)."""
    out = pd.DataFrame({
        "backbone": agg["backbone"], "method": agg["variant"], "source": agg["sources"], "target": agg["target"],
        "fraction": agg["fraction"], "metric": agg["metric"],
        "score": [f"{m:.4f} ± {s:.4f}" for m, s in zip(agg["mean"], agg["std"])], "seeds": agg["n"],
        "Δ vs scratch": agg["gain_vs_scratch"].map(_fmt_gain), "Δ vs no source": agg["gain_vs_base"].map(_fmt_gain),
        "note": ["negative transfer" + (" (within seed noise)" if noise else "") if neg else ""
                 for neg, noise in zip(agg["negative_transfer"], agg["within_noise"])],
    })  # fmt: skip
    out.loc[~agg["comparable"].values, "note"] += " (--limit: not comparable)"
    return out.sort_values(["backbone", "target", "fraction", "method", "source"]).reset_index(
        drop=True
    )


def glue_average(agg: pd.DataFrame) -> pd.DataFrame:
    """Mean primary score over the GLUE targets each (backbone, method, source, fraction) covers."""
    glue = agg[agg["glue"]]
    if glue.empty:
        return pd.DataFrame()
    g = glue.groupby(["backbone", "variant", "sources", "fraction"])
    return g.agg(glue_average=("mean", "mean"), tasks=("target", "nunique")).reset_index()


def gain_matrices(agg: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per (backbone, method, fraction): sources × targets of the mean gain over no source."""
    out = {}
    with_src = agg[agg["sources"] != "none"]
    for (bb, variant, frac), part in with_src.groupby(["backbone", "variant", "fraction"]):
        out[f"{bb}__{variant}__f{frac:g}"] = part.pivot_table(
            index="sources", columns="target", values="gain_vs_base"
        )
    return out


def render(df: pd.DataFrame, fmt: str, index: bool = False) -> str:
    if fmt == "csv":
        return df.to_csv(index=index)
    if fmt == "html":
        return df.to_html(index=index, float_format=lambda x: f"{x:.4f}", na_rep="")
    tablefmt = {"md": "github", "latex": "latex_booktabs"}[fmt]
    return tabulate(
        df, headers="keys", tablefmt=tablefmt, showindex=index, floatfmt=".4f", missingval=""
    )


def build(
    results: Path, out_dir: Path | None = None, fmt: str = "md", strict: bool = True
) -> dict[str, Any]:
    """Read the records under `results`, write leaderboard and gain matrices to `out_dir`, and
    return the rendered leaderboard text and the frames."""
    records, problems = load_records(results, strict=strict)
    df = records_frame(records)
    if df.empty:
        return {
            "text": "(no successful runs recorded)",
            "problems": problems,
            "aggregate": df,
            "failed": _failed(records),
        }
    agg = aggregate(df)
    table = leaderboard_table(agg)
    glue = glue_average(agg)
    matrices = gain_matrices(agg)
    text = render(table, fmt)
    if not glue.empty:
        text += "\n\nGLUE average\n" + render(glue, fmt)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in FORMATS:
            (out_dir / f"leaderboard.{f}").write_text(render(table, f))
        agg.to_csv(out_dir / "aggregate.csv", index=False)
        if not glue.empty:
            (out_dir / "glue_average.csv").write_text(render(glue, "csv"))
        md = []
        for name, m in matrices.items():
            m.to_csv(out_dir / f"gain_matrix__{name}.csv")
            md.append(f"### {name.replace('__', ' | ')}\n\n" + render(m, "md", index=True))
        (out_dir / "gain_matrices.md").write_text("\n\n".join(md) + "\n")
    return {
        "text": text,
        "problems": problems,
        "aggregate": agg,
        "matrices": matrices,
        "failed": _failed(records),
    }


def _failed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "failed"]
