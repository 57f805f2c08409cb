"""Pictures of matrices and correlations (matplotlib, Agg backend): Hinton diagrams, clustered
heatmaps, gain-against-similarity scatters, and a 2-D map and dendrogram of tasks. Every
figure is written as PNG and SVG; `draw_*` return the paths written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

POSITIVE, NEGATIVE = "#2166ac", "#b2182b"  # blue for positive, red for negative


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> list[Path]:
    """`path` + .png and .svg. The suffix is appended, never substituted: a name ending in a
    value such as `f0.05` keeps it (with_suffix made `f0.05` and `f0.5` both `f0.png`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name[: -len(path.suffix)] if path.suffix in (".png", ".svg") else path.name
    out = [path.with_name(stem + ".png"), path.with_name(stem + ".svg")]
    fig.savefig(out[0], dpi=150, bbox_inches="tight")
    fig.savefig(out[1], bbox_inches="tight")
    _pyplot().close(fig)
    return out


def hinton_sizes(values: np.ndarray, max_value: float | None = None) -> np.ndarray:
    """Side of each square, in cell units: its area is proportional to |value| (a square of
    side 0.9 for the largest magnitude, or for `max_value`)."""
    values = np.nan_to_num(np.asarray(values, float))
    top = max_value or (np.abs(values).max() if values.size else 0.0) or 1.0
    return 0.9 * np.sqrt(np.clip(np.abs(values) / top, 0, 1))


def draw_hinton(matrix: pd.DataFrame, path: Path, title: str = "", max_value: float | None = None,
                annotate: bool = True) -> list[Path]:  # fmt: skip
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
        ax.add_patch(plt.Rectangle((j - side / 2, i - side / 2), side, side,
                                   color=POSITIVE if v >= 0 else NEGATIVE))  # fmt: skip
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
    return _save(fig, path)


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
    return _save(fig, path)


def draw_scatter(x: np.ndarray, y: np.ndarray, labels: list[str], path: Path, xlabel: str, ylabel: str,
                 title: str = "") -> list[Path]:  # fmt: skip
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
    return _save(fig, path)


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
    dendrogram(linkage(squareform(d, checks=False), "average"), labels=names, ax=right,
               leaf_rotation=90, leaf_font_size=7)  # fmt: skip
    right.set_title("dendrogram (average linkage)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
