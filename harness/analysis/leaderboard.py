"""Leaderboards and source×target gain matrices from run records (pandas + tabulate).

How rows are pooled and gains computed is in `harness.analysis.gains`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from harness.analysis.gains import (
    DELTA_M_MIN_REFERENCE,
    aggregate,
    delta_m,
    distillation,
    gain_matrices,
    glue_average,
    paired_differences,
    records_frame,
)
from harness.analysis.intervals import CLIPPED_MARK, FEW_SEEDS_MARK, INTERVAL_NOTE, interval_text
from harness.predictions import load_predictions
from harness.records import load_records

FORMATS = ("md", "latex", "html", "csv")
DELTA_M_TITLE = "Δm (multi-task relative gain over single-task fine-tuning, %, mean over seeds)"
DELTA_M_NOTE = (
    f"Targets whose single-task score |M_st| is below {DELTA_M_MIN_REFERENCE:g} (on any seed) are "
    "left out of the relative mean, where a near-zero reference would inflate the gain: "
    "`tasks_in_mean` of `tasks` are averaged, and `left_out` gives each left-out target's "
    "absolute difference M_mt − M_st (signed so positive is better, mean over seeds)."
)


PAIRED_TITLE = (
    "Paired against single-task fine-tuning (same target, fraction and seed): the mean "
    "difference, positive is better, with its 95 % interval over seeds; where the runs stored "
    "their predictions, `seeds × rows` is a paired bootstrap over seeds and scored rows, which "
    "also holds the scored split's sampling noise"
)
ROWS_INTERVAL = "seeds × rows"


def paired_table(paired: pd.DataFrame) -> pd.DataFrame:
    """`paired_differences` as printed: the difference with its interval in one column (cut at
    the range of a difference, and marked, as `interval_text` does)."""
    if paired.empty:
        return paired
    col = next(c for c in paired.columns if c.startswith("Δ vs "))
    extra = ["ci_low_unclipped", "ci_high_unclipped", "ci_clipped", "few_seeds"]
    extra += ["rows_ci_low", "rows_ci_high"]
    out = paired.drop(columns=["ci_low", "ci_high", col, *[c for c in extra if c in paired]])
    clipped = paired["ci_clipped"] if "ci_clipped" in paired else [False] * len(paired)
    out.insert(
        5,
        col,
        [
            f"{d:+.4f}" + ("" if pd.isna(lo) else " " + interval_text(lo, hi, "t", n, cut, "+.4f"))
            for d, lo, hi, n, cut in zip(
                paired[col], paired["ci_low"], paired["ci_high"], paired["seeds"], clipped
            )
        ],
    )
    if "rows_ci_low" in paired and paired["rows_ci_low"].notna().any():
        out.insert(
            6,
            ROWS_INTERVAL,
            [
                interval_text(lo, hi, "bootstrap", n, False, "+.4f")
                for lo, hi, n in zip(paired["rows_ci_low"], paired["rows_ci_high"], paired["seeds"])
            ],
        )
    return out


def _fmt_gain(x: float) -> str:
    return "" if pd.isna(x) else f"{x:+.4f}"


def _fmt_ci(lo: float, hi: float, kind: str, n: int = 3, clipped: bool = False) -> str:
    return interval_text(lo, hi, kind, n, clipped)


def interval_footnote(*tables: pd.DataFrame) -> str:
    """`INTERVAL_NOTE` when a table shows a mark it explains, else ''."""
    text = " ".join(
        " ".join(map(str, t.to_numpy().ravel())) for t in tables if t is not None and not t.empty
    )
    return INTERVAL_NOTE if FEW_SEEDS_MARK in text or CLIPPED_MARK in text else ""


def leaderboard_table(agg: pd.DataFrame) -> pd.DataFrame:
    """The long table people read: one row per setting (see `gains`), under a `majority` row
    per target (the floor: the best constant predictor). `score` is mean ± std over
    `seeds`; `95% CI` is the t interval of the mean (a bootstrap one, marked "bs", from 10
    seeds), cut at the metric's range and marked ‡ where cut, † when it rests on fewer than 3
    seeds (`INTERVAL_NOTE`). A `limit` column appears when any row used `--limit`, and a
    `setting` column when two rows would otherwise look the same (they differ in budget or
    method settings)."""
    out = pd.DataFrame(
        {
            "backbone": agg["backbone"],
            "method": agg["variant"],
            "source": agg["sources"],
            "target": agg["target"],
            "fraction": agg["fraction"],
            "metric": agg["metric"],
            "score": [f"{m:.4f} ± {s:.4f}" for m, s in zip(agg["mean"], agg["std"])],
            "95% CI": [
                _fmt_ci(lo, hi, k, n, c)
                for lo, hi, k, n, c in zip(
                    agg["ci_low"],
                    agg["ci_high"],
                    agg["ci_kind"],
                    agg["n"],
                    _col(agg, "ci_clipped", False),
                )
            ],
            "seeds": agg["n"],
            "Δ vs scratch": agg["gain_vs_scratch"].map(_fmt_gain),
            "Δ vs no source": agg["gain_vs_base"].map(_fmt_gain),
            "note": [
                "negative transfer" + (" (within seed noise)" if noise else "") if neg else ""
                for neg, noise in zip(agg["negative_transfer"], agg["within_noise"])
            ],
        }
    )
    out.loc[~agg["comparable"].values, "note"] += " (--limit: not comparable)"
    out["note"] = out["note"].str.strip()
    shown = ["backbone", "method", "source", "target", "fraction"]
    if agg["limit"].notna().any():
        out.insert(5, "limit", agg["limit"].map(lambda v: "" if pd.isna(v) else str(int(v))))
        shown.append("limit")
    if out.duplicated(shown).any():
        out.insert(len(shown), "setting", agg["setting"])
    return with_floor_rows(out, agg)


def _col(frame: pd.DataFrame, name: str, default: Any) -> Any:
    return frame[name] if name in frame else [default] * len(frame)


def with_floor_rows(out: pd.DataFrame, agg: pd.DataFrame) -> pd.DataFrame:
    """A `majority` row above each target's first row: the best constant predictor's score on
    the scored split (see `harness.analysis.floor`), once per target and `--limit`."""
    rows, seen = [], set()
    for i in range(len(out)):
        key = (agg["target"].iat[i], agg["limit"].iat[i] if pd.notna(agg["limit"].iat[i]) else None)
        if key not in seen and "floor" in agg and pd.notna(agg["floor"].iat[i]):
            seen.add(key)
            floor = {c: "" for c in out.columns}
            floor.update(
                {
                    "method": "majority",
                    "target": key[0],
                    "metric": agg["metric"].iat[i],
                    "score": f"{agg['floor'].iat[i]:.4f}",
                    "seeds": "",
                    "note": f"best constant predictor: {agg['floor_predict'].iat[i]}",
                }
            )
            if "limit" in out.columns:
                floor["limit"] = out["limit"].iat[i]
            rows.append(floor)
        rows.append(out.iloc[i].to_dict())
    return pd.DataFrame(rows, columns=out.columns)


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
    dm = delta_m(df)
    kd = distillation(records)
    paired = paired_table(paired_differences(df, predictions=load_predictions(results, records)))
    text = render(table, fmt)
    if interval_footnote(table):
        text += "\n\n" + interval_footnote(table)
    if not paired.empty:
        text += "\n\n" + PAIRED_TITLE + "\n" + render(paired, fmt)
        if interval_footnote(paired):
            text += "\n\n" + interval_footnote(paired)
    if not glue.empty:
        text += "\n\nGLUE average\n" + render(glue, fmt)
    if not dm.empty:
        text += "\n\n" + DELTA_M_TITLE + "\n" + DELTA_M_NOTE + "\n" + render(dm, fmt)
    if not kd.empty:
        text += "\n\nDistillation: teachers, ensemble and student\n" + render(kd, fmt)
    if out_dir is not None:
        _write_files(Path(out_dir), table, agg, glue, dm, kd, paired, matrices)
    return {
        "text": text,
        "problems": problems,
        "aggregate": agg,
        "matrices": matrices,
        "delta_m": dm,
        "distillation": kd,
        "paired": paired,
        "failed": _failed(records),
    }


def _write_files(
    out_dir: Path,
    table: pd.DataFrame,
    agg: pd.DataFrame,
    glue: pd.DataFrame,
    dm: pd.DataFrame,
    kd: pd.DataFrame,
    paired: pd.DataFrame,
    matrices: dict[str, pd.DataFrame],
) -> None:
    """The leaderboard in every format, the aggregate and the tables beside it, the matrices."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in FORMATS:  # the csv carries the marks; its footnote is in the other three
        note = interval_footnote(table) if f != "csv" else ""
        if note and f == "html":
            note = f"<p>{html.escape(note)}</p>"
        (out_dir / f"leaderboard.{f}").write_text(
            render(table, f) + (f"\n\n{note}\n" if note else "")
        )
    agg.to_csv(out_dir / "aggregate.csv", index=False)
    if not glue.empty:
        (out_dir / "glue_average.csv").write_text(render(glue, "csv"))
    if not dm.empty:
        (out_dir / "delta_m.csv").write_text(render(dm, "csv"))
    if not kd.empty:
        (out_dir / "distillation.csv").write_text(render(kd, "csv"))
    if not paired.empty:
        (out_dir / "paired_vs_finetune.csv").write_text(render(paired, "csv"))
    md = []
    for name, m in matrices.items():
        m.to_csv(out_dir / f"gain_matrix__{name}.csv".replace("/", "_"))  # a backbone path
        md.append(f"### {name.replace('__', ' | ')}\n\n" + render(m, "md", index=True))
    (out_dir / "gain_matrices.md").write_text("\n\n".join(md) + "\n")


def _failed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "failed"]
