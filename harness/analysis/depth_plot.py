"""The score-by-depth picture (matplotlib, Agg): for one target (backbone, fraction, family),
score against layer, one line per source (`none`, the encoder without a source, dashed and
black) with its 95 % interval as a band and its best layer marked with a star. Written as PNG
and SVG by `harness.analysis.plots._save`, with the numbers drawn in the files' metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.plots import _plain

X_LABEL = "layer (1 = embeddings/stem)"


def depth_lines(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows by layer) per line: one per source (and setting), `none` first; a source
    run under two settings (say two source budgets) gets its setting key in its label."""
    lines = []
    for (source, setting), g in rows.groupby(["source", "setting"], sort=True):
        twice = rows.loc[rows["source"] == source, "setting"].nunique() > 1
        lines.append((f"{source} [{setting}]" if twice else str(source), g.sort_values("layer")))
    return sorted(lines, key=lambda line: (line[1]["source"].iloc[0] != "none", line[0]))


def depth_data(rows: pd.DataFrame, best: dict[str, int]) -> dict[str, Any]:
    """What the figure draws: per line its layers, means, interval bounds and best layer."""
    series = {}
    for label, g in depth_lines(rows):
        series[label] = {
            "layer": [int(v) for v in g["layer"]],
            "mean": [_plain(v) for v in g["mean"]],
            "ci_low": [_plain(v) for v in g["ci_low"]],
            "ci_high": [_plain(v) for v in g["ci_high"]],
            "best_layer": best.get(g["setting"].iloc[0]),
        }
    return {"kind": "depth", "series": series}


def draw_depth(rows: pd.DataFrame, best: dict[str, int], path: Path) -> list[Path]:
    """One target's score by layer (`rows`: `depth_table` rows of one backbone, target,
    fraction, family and base key; `best`: the best layer of each row setting) at `path` +
    .png / .svg."""
    from harness.analysis.plots import _pyplot, _save

    plt = _pyplot()
    first = rows.iloc[0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (label, g) in enumerate(depth_lines(rows)):
        plain = g["source"].iloc[0] == "none"
        color = "black" if plain else f"C{i % 10}"
        style = {"color": color, "ls": "--" if plain else "-"}
        ax.plot(g["layer"], g["mean"], marker="o", ms=3, label=label, **style)
        ax.fill_between(
            g["layer"].to_numpy(float),
            g["ci_low"].to_numpy(float),
            g["ci_high"].to_numpy(float),
            color=color,
            alpha=0.15,
            lw=0,
        )
        top = g[g["layer"] == best.get(g["setting"].iloc[0])]
        ax.plot(top["layer"], top["mean"], marker="*", ms=13, color=color, ls="none")
    groups = int(rows["layer_groups"].max())
    ax.set_xticks(range(1, groups + 1))
    ax.set_xlim(0.7, groups + 0.3)
    ax.set_xlabel(X_LABEL)
    better = "lower" if first["direction"] == "min" else "higher"
    ax.set_ylabel(f"{first['metric']} ({better} is better)")
    ax.set_title(
        f"{first['target']}: {first['family']} by depth\n"
        f"{first['backbone']}, fraction {first['fraction']:g} (★ best layer, band 95 % interval)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(title="source", fontsize=8, loc="best")
    return _save(fig, path, depth_data(rows, best))
