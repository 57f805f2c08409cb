"""Yosinski et al. 2014's Figure 2 from run records: on a target B, the score of `finetune` runs
that keep the first n layers of a base network (`copy_first_n` = n, the rest re-initialised),
by n, in four curves: BnB and BnB+ (the base network of B itself: a suite with
`self_sources`), AnB and AnB+ (another task's base network); `+` when the copied layers are
fine-tuned, without when they are frozen. n = 0 is the target's `scratch` run: the base network
of B trained from a random start, the reference line (the paper's baseB).

Two effects of the paper are judged from paired differences over seeds (95 % t intervals):
fragile co-adaptation (BnB below the base at its deepest middle dip while BnB+ is not), and
specificity at the top (AnB below BnB at the last layer), with AnB+ at or above the base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.intervals import mean_interval

CURVES = ("BnB", "BnB+", "AnB", "AnB+")
COLOURS = {"BnB": "#1f77b4", "BnB+": "#6baed6", "AnB": "#d62728", "AnB+": "#fc9272"}


def layer_transfer_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per usable run: backbone, target, source, curve, n, seed, score (n = 0: scratch,
    curve `base`). Runs that copy layers are `finetune` runs with `copy_first_n` ≥ 1 and one
    source; failed and non-comparable runs are left out."""
    rows = []
    for r in records:
        spec = r.get("spec") or {}
        if r.get("status") != "ok" or not r.get("comparable", True):
            continue
        cfg = spec.get("method_config") or {}
        base = {
            "backbone": (spec.get("backbone") or {}).get("name"),
            "target": spec.get("target"),
            "seed": spec.get("seed"),
            "fraction": spec.get("fraction"),
            "score": r.get("primary_score"),
            "metric": r.get("primary_metric"),
        }
        sources = list(spec.get("sources") or [])
        if spec.get("method") == "scratch":
            rows.append({**base, "source": "none", "curve": "base", "n": 0})
        elif spec.get("method") == "finetune" and cfg.get("copy_first_n", -1) >= 1:
            if len(sources) != 1:
                continue
            selffer = sources[0] == spec.get("target")
            curve = ("BnB" if selffer else "AnB") + ("+" if cfg.get("finetune_copied") else "")
            rows.append({**base, "source": sources[0], "curve": curve, "n": cfg["copy_first_n"]})
    frame = pd.DataFrame(rows)
    if frame.empty or not (frame["curve"] != "base").any():
        return pd.DataFrame()
    return frame.dropna(subset=["score"])


def layer_transfer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean score over seeds with its 95 % interval per (backbone, target, curve, source, n)."""
    out = []
    keys = ["backbone", "target", "fraction", "curve", "source", "n"]
    for key, g in frame.groupby(keys, dropna=False):
        ci = mean_interval(g["score"].to_numpy())
        out.append(
            {
                **dict(zip(keys, key)),
                "mean": float(g["score"].mean()),
                "ci_low": ci.low,
                "ci_high": ci.high,
                "seeds": len(g),
            }
        )
    return pd.DataFrame(out).sort_values(keys).reset_index(drop=True)


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, Any]:
    """Mean and 95 % interval of a − b over the seeds both have."""
    both = (
        a.set_index("seed")["score"]
        .to_frame("a")
        .join(b.set_index("seed")["score"].to_frame("b"), how="inner")
    )
    diff = (both["a"] - both["b"]).to_numpy()
    return (float(diff.mean()) if len(diff) else float("nan")), mean_interval(diff)


def _verdict(mean: float, ci: Any, below: bool) -> str:
    """`yes` when the interval excludes 0 on the stated side, `no` when it excludes it on the
    other, else `within noise`."""
    if ci.kind == "none" or np.isnan(ci.low):
        return "no interval"
    if (ci.high < 0) if below else (ci.low > 0):
        return "yes"
    if (ci.low > 0) if below else (ci.high < 0):
        return "no (the opposite)"
    return "within noise"


def layer_transfer_effects(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (backbone, target, fraction, source A): the paper's effects as paired differences
    over seeds, each with its mean, 95 % interval and verdict."""
    out = []
    for (bb, target, fraction), g in frame.groupby(["backbone", "target", "fraction"]):
        base = g[g["curve"] == "base"]
        last = int(g["n"].max())
        bnb, bnb_plus = g[g["curve"] == "BnB"], g[g["curve"] == "BnB+"]
        rows: list[tuple[str, pd.DataFrame, pd.DataFrame, bool]] = []
        middle = bnb[(bnb["n"] > 1) & (bnb["n"] < last)]
        if not middle.empty and not base.empty:
            dip = int(middle.groupby("n")["score"].mean().idxmin())
            rows.append(
                (
                    f"BnB at n={dip} (its deepest middle dip) − base",
                    middle[middle["n"] == dip],
                    base,
                    True,
                )
            )
            plus = bnb_plus[bnb_plus["n"] == dip]
            if not plus.empty:
                rows.append((f"BnB+ at n={dip} − base", plus, base, True))
        for source in sorted(set(g.loc[g["curve"].isin(["AnB", "AnB+"]), "source"])):
            anb = g[(g["curve"] == "AnB") & (g["source"] == source)]
            anb_plus = g[(g["curve"] == "AnB+") & (g["source"] == source)]
            top_a, top_b = anb[anb["n"] == last], bnb[bnb["n"] == last]
            if not top_a.empty and not top_b.empty:
                rows.append((f"AnB − BnB at n={last} (from {source})", top_a, top_b, True))
            if not anb_plus.empty and not base.empty:
                mean_plus = anb_plus.groupby("seed")["score"].mean().reset_index()
                rows.append((f"AnB+ over all n − base (from {source})", mean_plus, base, False))
        for name, a, b, below in rows:
            mean, ci = _paired(a, b)
            out.append(
                {
                    "backbone": bb,
                    "target": target,
                    "fraction": fraction,
                    "effect": name,
                    "difference": mean,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "seeds": ci.n,
                    "below zero?" if below else "above zero?": _verdict(mean, ci, below),
                }
            )
    return pd.DataFrame(out)


BAND_FROM_SEEDS = 3  # with 2 seeds t(0.975, 1) = 12.7: a band that wide hides the curves


def draw_layer_transfer(
    table: pd.DataFrame, path: Path, title: str = "", frame: pd.DataFrame | None = None
) -> list[Path]:
    """The figure: score against n for the four curves (mean line; the 95 % band from
    `BAND_FROM_SEEDS` seeds on), the base (n = 0, `scratch`) as a dashed line, and every seed's
    score in `frame` (`layer_transfer_frame`'s rows) as a dot."""
    from harness.analysis.plots import _plain, _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    base = table[table["curve"] == "base"]
    data: dict[str, Any] = {"kind": "layer_transfer", "curves": {}}
    if not base.empty:
        ax.axhline(float(base["mean"].iloc[0]), color="#555", ls="--", lw=1, label="base (scratch)")
        data["base"] = _plain(base["mean"].iloc[0])
    for (curve, source), g in table[table["curve"] != "base"].groupby(["curve", "source"]):
        g = g.sort_values("n")
        label = curve if curve.startswith("B") else f"{curve} (A = {source})"
        colour = COLOURS.get(curve, None)
        ax.plot(g["n"], g["mean"], marker="o", color=colour, label=label)
        band = bool(g["ci_low"].notna().any() and g["seeds"].min() >= BAND_FROM_SEEDS)
        if band:
            ax.fill_between(g["n"], g["ci_low"], g["ci_high"], color=colour, alpha=0.12)
        data["curves"][label] = {
            "n": [int(v) for v in g["n"]],
            "mean": [_plain(v) for v in g["mean"]],
            "band": band,
        }
        if frame is not None:
            runs = frame[(frame["curve"] == curve) & (frame["source"] == source)]
            runs = runs.sort_values(["n", "seed"])
            ax.scatter(runs["n"], runs["score"], color=colour, s=10, alpha=0.5, linewidths=0)
            data["curves"][label]["runs"] = [
                [int(n), _plain(v)] for n, v in zip(runs["n"], runs["score"])
            ]
    ax.set_xlabel("n: layer groups copied from the base network (1 = stem)")
    ax.set_ylabel("score on the target's test split")
    ax.set_title(title or "Yosinski et al. 2014, Figure 2")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    return _save(fig, path, data)


def write_layer_transfer(
    records: list[dict[str, Any]], out: Path
) -> tuple[list[Path], pd.DataFrame, pd.DataFrame]:
    """Write `layer_transfer.csv`, `layer_transfer_effects.csv` and one figure per (backbone,
    target, fraction) under `out`; return (paths, table, effects), empty without such runs."""
    frame = layer_transfer_frame(records)
    if frame.empty:
        return [], pd.DataFrame(), pd.DataFrame()
    out.mkdir(parents=True, exist_ok=True)
    table = layer_transfer_table(frame)
    effects = layer_transfer_effects(frame)
    table.to_csv(out / "layer_transfer.csv", index=False)
    effects.to_csv(out / "layer_transfer_effects.csv", index=False)
    written = [out / "layer_transfer.csv", out / "layer_transfer_effects.csv"]
    keys = ["backbone", "target", "fraction"]
    runs = dict(tuple(frame.groupby(keys)))  # each figure's per-seed dots
    for (bb, target, fraction), g in table.groupby(keys):
        name = f"layer_transfer__{bb}__{target}__f{fraction}".replace("/", "_")
        title = f"{target}, {bb}: layers copied from a base network"
        written += draw_layer_transfer(g, out / name, title, runs[bb, target, fraction])
    return written, table, effects
