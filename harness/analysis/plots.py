"""Pictures of matrices and correlations (matplotlib, Agg backend): Hinton diagrams, clustered
heatmaps, gain-against-similarity scatters, learning curves, and a 2-D map and dendrogram of
tasks. Every figure is written as PNG and SVG; `draw_*` return the paths written.

Each picture carries the numbers it draws: a JSON text chunk `DATA_KEY` in the PNG (and the
SVG's description), read back with `read_data`, so a picture can be checked against the table
it was drawn from without trusting its file name."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

POSITIVE, NEGATIVE = "#2166ac", "#b2182b"  # blue for positive, red for negative


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


DATA_KEY = "transferbench:data"  # the PNG text chunk that holds a picture's numbers


def _plain(v: Any) -> Any:
    """A number for JSON: a float, or None for NaN / missing."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def matrix_data(matrix: pd.DataFrame) -> dict[str, Any]:
    """A matrix as a picture's data: its row and column labels and values (None for NaN)."""
    return {
        "kind": "matrix",
        "index": [str(i) for i in matrix.index],
        "columns": [str(c) for c in matrix.columns],
        "values": [[_plain(v) for v in row] for row in matrix.to_numpy(float)],
    }


def read_data(path: Path) -> dict[str, Any] | None:
    """The numbers a PNG written by `_save` draws (`DATA_KEY`), or None for another picture."""
    from PIL import Image

    with Image.open(path) as im:
        text = getattr(im, "text", {}).get(DATA_KEY)
    return json.loads(text) if text else None


def _save(fig, path: Path, data: dict[str, Any] | None = None) -> list[Path]:
    """`path` + .png and .svg, with `data` (what the figure draws) in each file's metadata. The
    suffix is appended, never substituted: a name ending in a value such as `f0.05` keeps it
    (with_suffix made `f0.05` and `f0.5` both `f0.png`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name[: -len(path.suffix)] if path.suffix in (".png", ".svg") else path.name
    out = [path.with_name(stem + ".png"), path.with_name(stem + ".svg")]
    text = json.dumps(data, ensure_ascii=True, allow_nan=False) if data is not None else None
    fig.savefig(out[0], dpi=150, bbox_inches="tight", metadata={DATA_KEY: text} if text else None)
    fig.savefig(out[1], bbox_inches="tight", metadata={"Description": text} if text else None)
    _pyplot().close(fig)
    return out


def hinton_sizes(values: np.ndarray, max_value: float | None = None) -> np.ndarray:
    """Side of each square, in cell units: its area is proportional to |value| (a square of
    side 0.9 for the largest magnitude, or for `max_value`)."""
    values = np.nan_to_num(np.asarray(values, float))
    top = max_value or (np.abs(values).max() if values.size else 0.0) or 1.0
    return 0.9 * np.sqrt(np.clip(np.abs(values) / top, 0, 1))


def draw_hinton(
    matrix: pd.DataFrame,
    path: Path,
    title: str = "",
    max_value: float | None = None,
    annotate: bool = True,
) -> list[Path]:
    """A Hinton diagram: one square per cell, area ∝ |value|, blue positive, red negative;
    empty cells (NaN) are left blank. Rows and columns keep the frame's labels."""
    plt = _pyplot()
    values = matrix.to_numpy(float)
    sizes = hinton_sizes(values, max_value)
    n_rows, n_cols = values.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n_cols, 1.0 + 0.6 * n_rows))
    ax.set_facecolor("#f4f4f4")
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        side = sizes[i, j]
        ax.add_patch(
            plt.Rectangle(
                (j - side / 2, i - side / 2), side, side, color=POSITIVE if v >= 0 else NEGATIVE
            )
        )
        if annotate:
            ax.text(j, i + 0.42, f"{v:+.2f}", ha="center", va="bottom", fontsize=6, color="#333333")
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xticks(
        range(n_cols), [str(c) for c in matrix.columns], rotation=45, ha="right", fontsize=8
    )
    ax.set_yticks(range(n_rows), [str(r) for r in matrix.index], fontsize=8)
    ax.set_xlabel(str(matrix.columns.name or ""))
    ax.set_ylabel(str(matrix.index.name or ""))
    ax.set_aspect("equal")
    ax.set_title(title + "\n(area ∝ |value|; blue +, red −)", fontsize=9)
    return _save(fig, path, {**matrix_data(matrix), "title": title})


def draw_heatmap(
    matrix: pd.DataFrame, path: Path, title: str = "", cluster: bool = True
) -> list[Path]:
    """A heatmap, rows and columns reordered by average-linkage clustering when square."""
    plt = _pyplot()
    m = matrix
    if cluster and m.shape[0] == m.shape[1] and m.shape[0] > 2 and not m.isna().any().any():
        from scipy.cluster.hierarchy import leaves_list, linkage

        order = leaves_list(linkage(m.to_numpy(float), "average"))
        m = m.iloc[order, order]
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * m.shape[1], 1.0 + 0.5 * m.shape[0]))
    im = ax.imshow(m.to_numpy(float), cmap="viridis")
    ax.set_xticks(
        range(m.shape[1]), [str(c) for c in m.columns], rotation=45, ha="right", fontsize=8
    )
    ax.set_yticks(range(m.shape[0]), [str(r) for r in m.index], fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path, {**matrix_data(m), "title": title})


def draw_scatter(
    x: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    path: Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
) -> list[Path]:
    """Gain against a measure, one point per pair, with the least-squares line."""
    plt = _pyplot()
    x, y = np.asarray(x, float), np.asarray(y, float)
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.scatter(x, y, s=18, color=POSITIVE)
    for xi, yi, lab in zip(x, y, labels):
        ax.annotate(lab, (xi, yi), fontsize=5, alpha=0.7)
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, icpt = np.polyfit(x, y, 1)
        xs = np.linspace(x.min(), x.max(), 20)
        ax.plot(xs, slope * xs + icpt, color=NEGATIVE, lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    data = {
        "kind": "scatter",
        "labels": [str(lab) for lab in labels],
        "x": [_plain(v) for v in x],
        "y": [_plain(v) for v in y],
        "xlabel": xlabel,
        "ylabel": ylabel,
        "title": title,
    }
    return _save(fig, path, data)


def draw_task_map(distances: pd.DataFrame, path: Path, title: str = "") -> list[Path]:
    """Tasks on a 2-D map (metric MDS on the distances) beside their dendrogram."""
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform
    from sklearn.manifold import MDS

    plt = _pyplot()
    d = distances.to_numpy(float)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    d = np.clip(d, 0, None)
    names = [str(n) for n in distances.index]
    xy = MDS(n_components=2, dissimilarity="precomputed", random_state=0, n_init=4).fit_transform(d)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    left.scatter(xy[:, 0], xy[:, 1], color=POSITIVE)
    for (px, py), name in zip(xy, names):
        left.annotate(name, (px, py), fontsize=7)
    left.set_title("map (MDS)", fontsize=9)
    left.set_xticks([])
    left.set_yticks([])
    dendrogram(
        linkage(squareform(d, checks=False), "average"),
        labels=names,
        ax=right,
        leaf_rotation=90,
        leaf_font_size=7,
    )
    right.set_title("dendrogram (average linkage)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, {**matrix_data(distances), "title": title})


def learning_curve_figure(g: pd.DataFrame, title: str = "") -> tuple[Any, dict[str, Any]]:
    """Score against the target's data fraction, one line per method and source (and `--limit`
    when they differ), from `aggregate` rows of one target: the figure and the data it draws.
    The fraction axis is logarithmic with a tick at each fraction run, labelled as the fraction
    (`0.05`), never matplotlib's `2×10⁻¹` minor labels; labels that would overlap are turned,
    then thinned (`thin_tick_labels`)."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter, NullLocator

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    keys = ["variant", "sources"] + (["limit"] if g["limit"].nunique(dropna=False) > 1 else [])
    lines = []
    for key, line in g.groupby(keys, dropna=False, sort=True):
        line = line.sort_values("fraction")
        label = f"{key[0]} ← {key[1]}" + (
            f" (limit {key[2]:g})" if len(key) > 2 and pd.notna(key[2]) else ""
        )
        ax.errorbar(
            line["fraction"],
            line["mean"],
            yerr=line["std"],
            marker="o",
            ms=3,
            capsize=2,
            label=label,
        )
        lines.append(
            {
                "label": label,
                "variant": str(key[0]),
                "sources": str(key[1]),
                "x": [_plain(v) for v in line["fraction"]],
                "y": [_plain(v) for v in line["mean"]],
                "yerr": [_plain(v) for v in line["std"]],
            }
        )
    fractions = sorted(g["fraction"].unique())
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(fractions))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{f:g}" for f in fractions]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("fraction of the target's training data")
    ax.set_ylabel(str(g["metric"].iloc[0]))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=5)
    thin_tick_labels(fig, ax)
    return fig, {"kind": "lines", "lines": lines, "title": title}


def _label_boxes(fig: Any, ax: Any) -> list[Any]:
    """The window extents of the x tick labels that show text, after a draw."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [
        t.get_window_extent(renderer)
        for t in ax.get_xticklabels()
        if t.get_visible() and t.get_text()
    ]


def _overlaps(boxes: list[Any]) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def thin_tick_labels(fig: Any, ax: Any) -> None:
    """No two x tick labels overlap: turn them 45° when they do, then blank, left to right,
    every label that still overlaps the last one kept or the last label (the first and the
    last ticks keep theirs). Works on the axis' `FixedFormatter`, so it holds on every redraw."""
    from matplotlib.ticker import FixedFormatter

    if not _overlaps(_label_boxes(fig, ax)):
        return
    ax.tick_params(axis="x", labelrotation=45)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
        t.set_rotation_mode("anchor")
    boxes = _label_boxes(fig, ax)
    if not _overlaps(boxes):
        return
    texts = list(ax.xaxis.get_major_formatter().seq)
    n = len(boxes)
    keep_last = n > 1 and not boxes[-1].overlaps(boxes[0])
    kept = [0]
    for i in range(1, n - 1 if keep_last else n):
        if boxes[i].overlaps(boxes[kept[-1]]) or (keep_last and boxes[i].overlaps(boxes[-1])):
            continue
        kept.append(i)
    if keep_last:
        kept.append(n - 1)
    ax.xaxis.set_major_formatter(
        FixedFormatter([t if i in kept else "" for i, t in enumerate(texts)])
    )
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
        t.set_rotation_mode("anchor")
    fig.canvas.draw()


def draw_learning_curve(g: pd.DataFrame, path: Path, title: str = "") -> list[Path]:
    """`learning_curve_figure`, saved with its data."""
    fig, data = learning_curve_figure(g, title)
    return _save(fig, path, data)
