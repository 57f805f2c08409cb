"""What `transferbench similarity` writes and shows besides its computing: each measure's matrix
(csv and Hinton diagram), the failed scores, the tasks' pictures, the gain pictures, the
when-to-transfer table, and the correlation table as shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def correlation_view(table: pd.DataFrame) -> pd.DataFrame:
    """The correlation table as printed: each statistic with its interval, or `n/a: 2 pairs`
    where the row has too few pairs to rank (`harness.analysis.correlation.too_few_text`)."""
    from harness.analysis.correlation import ceiling_columns as ceilings
    from harness.analysis.correlation import row_rankable, statistic_text

    rows = [r for _, r in table.iterrows()]
    ok = [row_rankable(r) for r in rows]

    def ci(s: str) -> list[str]:
        return [statistic_text(r, s) for r in rows]

    def rate(s: str) -> list[object]:
        return [
            round(float(r[s]), 2) if k and pd.notna(r[s]) else ("n/a" if not k else "")
            for r, k in zip(rows, ok)
        ]

    view = pd.DataFrame(
        {
            "measure": table["measure"],
            "Kendall τ": ci("kendall_tau"),
            "p (τ)": table["kendall_tau_p"].round(3),
            "weighted τ": ci("weighted_tau"),
            "Spearman ρ": ci("spearman_rho"),
            "τ per target": ci("per_target_tau"),
            "p (per target)": table["per_target_tau_p"].round(3),
            "top-1": rate("top1"),
            "top-3": rate("top3"),
            "pairs": table["pairs"],
        }
    )
    if "ceiling_seeds" in table:  # beside each τ: what the realised gain reaches with itself
        view.insert(3, "ceiling τ", ceilings(table, "kendall_tau"))
        at = view.columns.get_loc("p (per target)") + 1
        view.insert(at, "ceiling τ per target", ceilings(table, "per_target_tau"))
    return view


def _silent(_text: str) -> None:
    """An `echo` that says nothing."""


def markdown(df: pd.DataFrame) -> str:
    from tabulate import tabulate

    return tabulate(df, headers="keys", tablefmt="github", showindex=False, floatfmt=".3f")


def write_when_to_transfer(
    records: list,
    frames: dict[str, pd.DataFrame],
    correlation: pd.DataFrame,
    out: Path,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """The when-to-transfer table, by the measure that predicted gain best (over all families;
    only rows with enough pairs to rank count, when there are any)."""
    from harness.analysis.when_to_transfer import when_to_transfer

    ranked = correlation[~correlation["measure"].str.startswith("floor_")].dropna(
        subset=["kendall_tau"]
    )
    if ranked.empty:
        return []
    if "rankable" in ranked and ranked["rankable"].astype(bool).any():
        ranked = ranked[ranked["rankable"].astype(bool)]
    measure = ranked.groupby("measure")["kendall_tau"].mean().sort_values(ascending=False).index[0]
    table = when_to_transfer(records, frames[measure])
    if table.empty:
        return []
    table.insert(0, "measure", measure)
    table.to_csv(out / "when_to_transfer.csv", index=False)
    (echo or _silent)(
        f"\nwhen to transfer: the best method per data fraction and {measure} tercile "
        "(its margin over the runner-up, 95 % interval over source, target and seed)\n"
        + markdown(table)
    )
    return [out / "when_to_transfer.csv"]


def write_matrices(frames: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Each measure's source × target matrix as csv and as a Hinton diagram."""
    from harness.analysis.plots import draw_hinton
    from harness.similarity.compute import as_matrix

    written = []
    for name, frame in frames.items():
        if frame.empty:
            continue
        m = as_matrix(frame)
        as_matrix(frame, show_failures=True).to_csv(out / f"{name}.csv")  # "failed: <reason>"
        written.append(out / f"{name}.csv")
        if m.notna().any().any():
            written += draw_hinton(m, out / f"hinton_{name}", title=f"{name}")
    return written


def report_failures(
    frames: dict[str, pd.DataFrame], out: Path, echo: Callable[[str], None] | None = None
) -> list[Path]:
    """Print the measures that failed (raised, or gave NaN) and why, and write every failed
    score to failures.csv: a failed score is not a missing one."""
    from harness.similarity.compute import failure_summary, failures

    failed = failures(frames)
    if failed.empty:
        return []
    failed.to_csv(out / "failures.csv", index=False)
    header = (
        f"\nFAILED: {failed['measure'].nunique()} measure(s) raised or gave NaN; their failed "
        "scores read 'failed: <reason>' in the matrices and are left out of the tables below "
        f"(each one in {out / 'failures.csv'})"
    )
    (echo or _silent)(header + "\n" + markdown(failure_summary(frames)))
    return [out / "failures.csv"]


def write_task_pictures(frames: dict[str, pd.DataFrame], out: Path, modality: str) -> list[Path]:
    """For one modality's tasks: every complete task × task matrix as a clustered heatmap, and
    the tasks on a 2-D map (MDS) with their dendrogram, from the Fréchet distances."""
    from harness.analysis.plots import draw_heatmap, draw_task_map
    from harness.similarity.compute import as_matrix

    written = []
    for name, frame in frames.items():
        if frame.empty:
            continue
        m = as_matrix(frame)
        if list(m.index) != list(m.columns) or len(m) < 3 or m.isna().any().any():
            continue
        written += draw_heatmap(
            m, out / f"heatmap_{name}_{modality}", title=f"{name} ({modality}, clustered)"
        )
        if name == "frechet":
            written += draw_task_map(
                -m, out / f"task_map_{modality}", title=f"{modality} tasks by Fréchet distance"
            )
    return written


def write_covariances(
    views: dict[str, Any], out: Path, modality: str, dims: int = 12
) -> list[Path]:
    """Each task's feature covariance matrix, drawn as a Hinton diagram in one shared basis (the
    top principal components of all the tasks' reference features), so the pictures compare."""
    import numpy as np

    from harness.analysis.plots import draw_hinton

    if len(views) < 2:
        return []
    pooled = np.concatenate([v.features for v in views.values()])
    pooled = pooled - pooled.mean(0)
    basis = np.linalg.svd(pooled, full_matrices=False)[2][:dims].T
    written = []
    for name, view in views.items():
        z = (view.features - view.features.mean(0)) @ basis
        cov = pd.DataFrame(
            np.cov(z, rowvar=False),
            index=[f"pc{i + 1}" for i in range(z.shape[1])],
            columns=[f"pc{i + 1}" for i in range(z.shape[1])],
        )
        written += draw_hinton(
            cov,
            out / f"covariance_{name}",
            title=f"{name}: feature covariance ({modality})",
            annotate=False,
        )
    return written


def write_gain_pictures(
    gains: pd.DataFrame, frames: dict[str, pd.DataFrame], out: Path, method: str = ""
) -> list[Path]:
    """The gain matrix (each pair's mean over seeds, a seed's runs of the pair averaged first:
    one replicate each) as `gain.csv` and a Hinton diagram, the same means with their 95 %
    intervals as `gain_intervals.csv`, and gain against each measure."""
    from harness.analysis.intervals import mean_interval
    from harness.analysis.noise_ceiling import seed_replicates
    from harness.analysis.plots import draw_hinton, draw_scatter

    # a seed's runs of one pair (layers, fractions, variants) are one replicate: averaged first,
    # so the matrix, the intervals and the correlations show one number per pair
    replicates = seed_replicates(gains)
    mean = replicates.groupby(["source", "target"])["gain"].mean().reset_index()
    matrix = mean.pivot(index="source", columns="target", values="gain")
    matrix.to_csv(out / "gain.csv")  # what the picture draws
    per_seed = replicates.set_index(["source", "target", "seed"])["gain"]
    intervals = [
        {
            "source": s,
            "target": t,
            "gain": g.mean(),
            "ci_low": iv.low,
            "ci_high": iv.high,
            "ci_kind": iv.kind,
            "seeds": iv.n,
        }
        for (s, t), g in per_seed.groupby(level=["source", "target"])
        for iv in [mean_interval(g.to_numpy())]
    ]
    columns = ["source", "target", "gain", "ci_low", "ci_high", "ci_kind", "seeds"]
    pd.DataFrame(intervals, columns=columns).to_csv(out / "gain_intervals.csv", index=False)
    what = f"realised gain{f' of {method}' if method else ''} (mean over seeds and fractions)"
    written = [out / "gain.csv", out / "gain_intervals.csv"]
    written += draw_hinton(matrix, out / "hinton_gain", title=what)
    for name, frame in frames.items():
        both = frame.merge(mean, on=["source", "target"]).dropna()
        if len(both) >= 2:
            labels = [f"{s}→{t}" for s, t in zip(both["source"], both["target"])]
            written += draw_scatter(
                both["score"].to_numpy(),
                both["gain"].to_numpy(),
                labels,
                out / f"scatter_{name}",
                xlabel=name,
                ylabel="gain",
            )
    return written
