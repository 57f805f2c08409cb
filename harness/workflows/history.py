"""`transferbench history`: headline scores over a series of nightly result folders, drawn with
their seed-noise band, and drift that no single night's comparison shows.

Nights: each folder given is one night. They are put in the order their records were written
(a folder's time is the latest `created` of its records); `--order given` keeps the order of
the command line instead.

Series: one per run group label (backbone, method variant, source or task set, target,
fraction) and its primary metric; each night gives the mean and standard deviation of the
primary score over seeds. When one night holds two settings under the same label (they
differ in budget or method settings), each setting is its own series. A series whose spec
changed from one night to the next says so (`spec changed`): its points are not the same
experiment throughout.

Drift, in the metric's worse direction, over at least `--min_nights` nights (default 5):

1. a monotone trend: the Mann–Kendall test, i.e. Kendall's τ of the nightly mean against the
   night index (`scipy.stats.kendalltau`), one-sided p < α (default 0.01); and
2. a cumulative change beyond the noise band: the per-seed scores of the last third of the
   nights against those of the first third, worse by more than `compare`'s tolerance
   max(t(1 − α; Welch df) · SE, floor).

Both must hold: a trend alone may be too small to matter (a deterministic series drifting by
1e-5 a night is perfectly monotone), and a shift alone is what a single comparison shows.
Sen's slope (`scipy.stats.theilslopes`) is reported as the change per night. A trend as
strong in the better direction is reported as "improving".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.errors import ConfigError, DataError
from harness.spec import describe_label, spec_of
from harness.workflows.compare import MIN_TOLERANCE, judge
from harness.workflows.compare_output import write_output
from harness.workflows.compare_sides import load_side

ALPHA = 0.01
MIN_NIGHTS = 5
LABEL = ["backbone", "variant", "source", "target", "fraction"]
SERIES = [*LABEL, "metric", "setting"]


def drift_test(
    nights: Sequence[Sequence[float]],
    direction: str,
    alpha: float = ALPHA,
    floor: float = MIN_TOLERANCE,
    min_nights: int = MIN_NIGHTS,
) -> dict[str, Any]:
    """Trend and cumulative-change test of one series: `nights` holds each night's per-seed
    scores in order (empty for a night without the series)."""
    idx = [i for i, v in enumerate(nights) if len(v)]
    means = [float(np.mean(nights[i])) for i in idx]
    out: dict[str, Any] = {
        "nights": len(idx),
        "first_mean": means[0] if means else math.nan,
        "last_mean": means[-1] if means else math.nan,
        "tau": math.nan,
        "p_trend": math.nan,
        "slope": math.nan,
        "window": 0,
        "window_change": math.nan,
        "tolerance": math.nan,
        "p_window": math.nan,
    }
    if len(idx) < max(min_nights, 3):
        return {**out, "status": "too few nights"}
    tau, p_two = stats.kendalltau(idx, means)
    if not np.isfinite(tau):  # every night scored the same mean
        tau, p_two = 0.0, 1.0
    sign = 1.0 if direction == "max" else -1.0
    toward_worse = sign * tau < 0
    p_worse = p_two / 2 if toward_worse else 1 - p_two / 2
    p_better = 1 - p_worse if tau != 0 else 1.0
    w = max(1, len(idx) // 3)
    first = [v for i in idx[:w] for v in nights[i]]
    last = [v for i in idx[-w:] for v in nights[i]]
    window = judge(first, last, direction, alpha, floor)
    if p_worse < alpha and window["status"] == "REGRESSION":
        status = "DRIFT"
    elif p_better < alpha and window["status"] == "improved":
        status = "improving"
    else:
        status = "ok"
    return {
        **out,
        "tau": float(tau),
        "p_trend": float(min(p_worse, p_better) if tau else 1.0),
        "slope": float(stats.theilslopes(means, idx).slope),
        "window": w,
        "window_change": window["change"],
        "tolerance": window["tolerance"],
        "p_window": window["p_value"],
        "status": status,
    }


def load_nights(dirs: Sequence[str | Path], order: str = "created") -> list[dict[str, Any]]:
    """Each folder's records and time (the latest `created`), in the chosen order."""
    seen: set[Path] = set()
    nights = []
    for d in dirs:
        resolved = Path(d).resolve()
        if resolved in seen:
            raise ConfigError(f"history: {d} is given twice; each folder is one night")
        seen.add(resolved)
        side = load_side(d, "history:")
        created = [str(r["created"]) for r in side.runs.values() if r.get("created")]
        nights.append(
            {
                "path": Path(d),
                "created": max(created) if created else None,
                "records": list(side.runs.values()),
            }
        )
    if order == "created":
        undated = [str(n["path"]) for n in nights if n["created"] is None]
        if undated:
            raise DataError(
                f"history: no record in {', '.join(undated)} says when it was written "
                "('created'); give the folders in order with --order given"
            )
        nights.sort(key=lambda n: n["created"])  # stable: equal times keep the given order
    return nights


def nightly_frame(nights: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per successful run and night: the series it belongs to and its primary score."""
    rows = []
    for i, night in enumerate(nights):
        for r in night["records"]:
            if r["status"] != "ok":
                continue
            rows.append(
                {
                    "night": i,
                    **spec_of(r["spec"]).label(),
                    "metric": r["primary_metric"],
                    "direction": r.get("direction")
                    if r.get("direction") in ("max", "min")
                    else "max",
                    "group": spec_of(r["spec"]).group_key,
                    "seed": r["spec"]["seed"],
                    "score": float(r["primary_score"]),
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        raise DataError("history: no successful run in any of the folders")
    per_night = df.groupby(["night", *LABEL, "metric"])["group"].transform("nunique")
    split = df.loc[per_night > 1, [*LABEL, "metric"]].drop_duplicates()
    df["setting"] = ""
    if not split.empty:  # two settings under one label on the same night: a series each
        marked = df.merge(split.assign(_split=True), on=[*LABEL, "metric"], how="left")
        df.loc[marked["_split"].fillna(False).to_numpy(bool), "setting"] = df["group"].str[:8]
    return df


def series_table(
    df: pd.DataFrame, n_nights: int, alpha: float, floor: float, min_nights: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per night and series: mean, std, seeds (long); per series: the drift test (wide)."""
    per_night = (
        df.groupby([*SERIES, "night"])
        .agg(
            mean=("score", "mean"),
            std=("score", "std"),
            n=("score", "size"),
            direction=("direction", "first"),
            group=("group", "first"),
        )
        .reset_index()
    )
    per_night["std"] = per_night["std"].fillna(0.0)
    tests = []
    for key, part in df.groupby(SERIES, sort=True):
        scores = [part.loc[part["night"] == i, "score"].tolist() for i in range(n_nights)]
        groups = part.groupby("night")["group"].first()
        changed = [
            int(i)
            for prev, i in zip(groups.index[:-1], groups.index[1:])
            if groups[i] != groups[prev]
        ]
        test = drift_test(scores, part["direction"].iloc[0], alpha, floor, min_nights)
        tests.append(
            {
                **dict(zip(SERIES, key)),
                "direction": part["direction"].iloc[0],
                **test,
                "spec_changed_at": changed,
            }
        )
    order = ["target", "backbone", "fraction", "variant", "source", "metric", "setting"]
    return per_night, pd.DataFrame(tests).sort_values(order).reset_index(drop=True)


def night_names(nights: list[dict[str, Any]]) -> list[str]:
    """Tick labels: the folder names, or their record times when names repeat (downloaded
    artifacts are often all called `nightly`)."""
    names = [n["path"].name or str(n["path"]) for n in nights]
    if len(set(names)) == len(names):
        return names
    return [(n["created"] or "")[:16].replace("T", " ") or str(i) for i, n in enumerate(nights)]


def draw_history(
    per_night: pd.DataFrame, tests: pd.DataFrame, names: list[str], path: Path
) -> list[Path]:
    """One panel per series: the nightly mean over seeds, a band of ± one seed standard
    deviation, Sen's slope dashed; drifting series in red. Written as PNG and SVG."""
    from harness.analysis.plots import _pyplot, _save

    plt = _pyplot()
    n = len(tests)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    step = max(1, math.ceil(len(names) / 12))
    for ax, test in zip(axes.flat, tests.itertuples(index=False)):
        sel = np.ones(len(per_night), bool)
        for col in SERIES:
            sel &= (per_night[col] == getattr(test, col)).to_numpy()
        part = per_night[sel].sort_values("night")
        color = "#b2182b" if test.status == "DRIFT" else "#2166ac"
        x, m, s = part["night"].to_numpy(), part["mean"].to_numpy(), part["std"].to_numpy()
        ax.fill_between(x, m - s, m + s, color=color, alpha=0.18, linewidth=0)
        ax.plot(x, m, "o-", color=color, markersize=3, linewidth=1.2)
        if np.isfinite(test.slope) and len(x) > 1:
            mid = np.median(x)
            ax.plot(x, np.median(m) + test.slope * (x - mid), "--", color="#555555", linewidth=0.8)
        arrow = "" if test.direction == "max" else " (lower is better)"
        title = f"{test.variant} | {test.source} → {test.target}\nfrac {test.fraction:g}, {test.metric}{arrow}"
        if test.status in ("DRIFT", "improving"):
            title += f" — {test.status} (τ {test.tau:+.2f}, p {test.p_trend:.2g})"
        ax.set_title(title, fontsize=7, color=color if test.status == "DRIFT" else "black")
        ticks = list(range(0, len(names), step))
        ax.set_xticks(ticks, [names[i] for i in ticks], rotation=45, ha="right", fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_xlim(-0.5, len(names) - 0.5)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(
        "Headline score per night: mean over seeds, band ± 1 seed s.d., dashed: Sen's slope",
        fontsize=9,
    )
    fig.tight_layout()
    return _save(fig, path)


def _fmt(x: Any, spec: str = ".4f") -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def drift_markdown(tests: pd.DataFrame, statuses: Sequence[str]) -> str:
    """A Markdown table of the series whose status is in `statuses`."""
    from tabulate import tabulate

    rows = []
    for t in tests[tests["status"].isin(statuses)].itertuples(index=False):
        rows.append(
            {
                "backbone": t.backbone,
                "method": t.variant,
                "source": t.source,
                "target": t.target,
                "fraction": f"{t.fraction:g}",
                "metric": t.metric + ("" if t.direction == "max" else " ↓"),
                "nights": t.nights,
                "first → last": f"{t.first_mean:.4f} → {t.last_mean:.4f}",
                "Sen slope / night": _fmt(t.slope, "+.5f"),
                "Kendall τ": _fmt(t.tau, "+.2f"),
                "p (trend)": _fmt(t.p_trend, ".2g"),
                f"change, last vs first {t.window} night(s)": _fmt(t.window_change, "+.4f"),
                "tolerance": _fmt(t.tolerance),
                "status": t.status,
                "spec changed": ",".join(map(str, t.spec_changed_at)),
            }
        )
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else ""


def history(
    dirs: Sequence[str | Path],
    output_dir: Path,
    order: str = "created",
    alpha: float = ALPHA,
    floor: float = MIN_TOLERANCE,
    min_nights: int = MIN_NIGHTS,
) -> dict[str, Any]:
    """Read the nights, test every series for drift, write the plot and tables to `output_dir`;
    returns the text to print, the frames and the paths written."""
    nights = load_nights(dirs, order)
    df = nightly_frame(nights)
    per_night, tests = series_table(df, len(nights), alpha, floor, min_nights)
    names = night_names(nights)
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--output_dir {output_dir}: cannot create: {exc.strerror or exc}"
        ) from exc
    figures = draw_history(per_night, tests, names, output_dir / "history")
    per_night.assign(
        folder=per_night["night"].map(lambda i: str(nights[i]["path"])),
        created=per_night["night"].map(lambda i: nights[i]["created"]),
    ).to_csv(output_dir / "history.csv", index=False)
    tests.to_csv(output_dir / "drift.csv", index=False)
    lines = [f"## transferbench history: {len(nights)} night(s), {len(tests)} series", ""]
    lines += [
        f"{i}. `{n['path']}` ({n['created'] or 'time unknown'}, {len(n['records'])} run(s))"
        for i, n in enumerate(nights)
    ]
    lines += [
        "",
        f"Drift: Mann–Kendall trend of the nightly mean, one-sided p < {alpha:g}, in the worse "
        "direction, and the last third of the nights worse than the first third by more than "
        f"max(t·SE, {floor:g}) over seeds; at least {min_nights} nights (docs/nightly.md).",
        "",
    ]
    flagged = tests[tests["status"] == "DRIFT"]
    if flagged.empty:
        lines.append(f"No drift flagged in {len(tests)} series.")
    else:
        lines += [f"### {len(flagged)} series drifting", "", drift_markdown(tests, ["DRIFT"])]
    improving = tests[tests["status"] == "improving"]
    if not improving.empty:
        lines += [
            "",
            f"### {len(improving)} series improving",
            "",
            drift_markdown(tests, ["improving"]),
        ]
    short = tests[tests["status"] == "too few nights"]
    if not short.empty:
        lines += [
            "",
            f"{len(short)} series with fewer than {max(min_nights, 3)} nights were not tested: "
            + "; ".join(
                f"{describe_label(dict(zip(SERIES, t)))} ({t[SERIES.index('metric')]})"
                for t in short[SERIES].itertuples(index=False, name=None)
            ),
        ]
    changed = tests[tests["spec_changed_at"].map(len) > 0]
    if not changed.empty:
        lines += [
            "",
            f"{len(changed)} series changed their spec during the window (see `spec changed` "
            f"in {output_dir / 'drift.md'}).",
        ]
    lines += [
        "",
        f"Plots: {', '.join(map(str, figures))}; tables: {output_dir / 'history.csv'}, "
        f"{output_dir / 'drift.csv'}",
    ]
    text = "\n".join(lines) + "\n"
    all_series = drift_markdown(tests, ["DRIFT", "improving", "ok", "too few nights"])
    write_output(
        text + "\n### Every series\n\n" + all_series + "\n", output_dir / "drift.md", "--output_dir"
    )
    return {
        "text": text,
        "nights": nights,
        "per_night": per_night,
        "tests": tests,
        "figures": figures,
    }
