"""What `transferbench similarity` writes of the layer-by-layer CKA (`layer_cka`): the long
table of every pair's layers × layers CKA, each pair's parting depth with its diagonal, one
heatmap per pair, and the parting depths as printed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from harness.similarity.layer_cka import LayerCKA

LONG_COLUMNS = ["pair", "source", "target", "layer_a", "layer_b", "cka"]
PARTING_COLUMNS = [
    "pair",
    "source",
    "target",
    "parting_depth",
    "level",
    "layers",
    "probe_rows",
    "diagonal",
]


def long_frame(results: list[LayerCKA]) -> pd.DataFrame:
    """layer_cka.csv: one row per (pair, layer of the source-trained encoder `layer_a`, layer of
    the target-trained encoder `layer_b`), layers counted from 1."""
    rows = [
        {
            "pair": r.pair,
            "source": r.source,
            "target": r.target,
            "layer_a": i + 1,
            "layer_b": j + 1,
            "cka": float(r.matrix[i, j]),
        }
        for r in results
        for i in range(r.matrix.shape[0])
        for j in range(r.matrix.shape[1])
    ]
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def parting_frame(results: list[LayerCKA]) -> pd.DataFrame:
    """layer_cka_parting.csv: each pair's parting depth (empty: never), the level, the layer
    count, the probe rows and the same-layer CKA values, layer 1 first (`;`-separated)."""
    rows = [
        {
            "pair": r.pair,
            "source": r.source,
            "target": r.target,
            "parting_depth": r.parting,
            "level": r.level,
            "layers": r.matrix.shape[0],
            "probe_rows": r.probe_rows,
            "diagonal": ";".join(f"{v:.4f}" for v in np.diagonal(r.matrix)),
        }
        for r in results
    ]
    frame = pd.DataFrame(rows, columns=PARTING_COLUMNS)
    frame["parting_depth"] = frame["parting_depth"].astype("Int64")  # None stays empty
    return frame


def draw_layer_cka(result: LayerCKA, path: Path) -> Path:
    """The pair's CKA matrix as a heatmap (PNG and SVG, carrying the matrix it draws): the
    source-trained encoder's layers up, the target-trained encoder's across, both from 1;
    colour bar 0–1. Returns the PNG."""
    from harness.analysis.plots import _pyplot, _save, matrix_data

    plt = _pyplot()
    m = result.matrix
    side = 0.45 * max(m.shape)
    fig, ax = plt.subplots(figsize=(max(5.5, side + 2.5), max(4.5, side + 1.5)))
    image = ax.imshow(m, vmin=0.0, vmax=1.0, cmap="viridis", origin="lower")
    ax.set_xticks(range(m.shape[1]), [str(k) for k in range(1, m.shape[1] + 1)])
    ax.set_yticks(range(m.shape[0]), [str(k) for k in range(1, m.shape[0] + 1)])
    ax.set_xlabel(f"layer, encoder trained on {result.target}", fontsize=8)
    ax.set_ylabel(f"layer, encoder trained on {result.source}", fontsize=8)
    if max(m.shape) <= 16:  # the values, where they fit
        for (i, j), v in np.ndenumerate(m):
            ink = "black" if v > 0.6 else "white"  # readable on viridis
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=ink)
    fig.colorbar(image, ax=ax, label="linear CKA")
    parted = result.parting
    where = f"they part at layer {parted}" if parted else "they never part"
    ax.set_title(
        f"{result.source} → {result.target}\n{where} (same-layer CKA < {result.level:g}; "
        f"{result.probe_rows} validation rows of {result.target})",
        fontsize=8,
    )
    fig.tight_layout()
    layers = lambda k: [str(i) for i in range(1, k + 1)]  # noqa: E731
    frame = pd.DataFrame(m, index=layers(m.shape[0]), columns=layers(m.shape[1]))
    data = {**matrix_data(frame), "source": result.source, "target": result.target}
    return _save(fig, path, data)[0]


def write_layer_cka(
    results: list[LayerCKA],
    skipped: list[str],
    out: Path,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """layer_cka.csv, layer_cka_parting.csv and layer_cka_<source>_to_<target>.png for each
    pair; the parting depths (and the skipped pairs) go to `echo`. Returns the files."""
    from harness.similarity.outputs import markdown

    say = echo or (lambda _text: None)
    if not results:
        if skipped:
            say(
                f"\nlayer CKA: no pair with both task-trained encoders cached; skipped {skipped[0]}"
                + (f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else "")
            )
        return []
    long_frame(results).to_csv(out / "layer_cka.csv", index=False)
    parting = parting_frame(results)
    parting.to_csv(out / "layer_cka_parting.csv", index=False)
    written = [out / "layer_cka.csv", out / "layer_cka_parting.csv"]
    for r in results:
        written.append(draw_layer_cka(r, out / f"layer_cka_{r.source}_to_{r.target}.png"))
    shown = parting[["pair", "parting_depth", "diagonal"]].astype(object)
    shown["parting_depth"] = ["never" if pd.isna(d) else int(d) for d in parting["parting_depth"]]
    rows = max(r.probe_rows for r in results)
    say(
        f"\nlayer CKA: where the source-trained and target-trained encoders part ways (the first "
        f"layer whose same-layer linear CKA < {results[0].level:g}; on up to {rows} validation "
        "rows of the target; layers from 1 = the stem)\n" + markdown(shown)
    )
    if skipped:
        say(f"layer CKA skipped {len(skipped)} pair(s): " + "; ".join(skipped))
    return written
