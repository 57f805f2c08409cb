"""The report's views of depth and domain (#20): probe score by layer (`analysis.depth`),
Yosinski's layer-transfer figure (`analysis.layer_transfer`), layer-by-layer CKA between
task-trained encoders and the depth where they part (written by `transferbench similarity`),
and the domain divergences of the suite's pairs beside their realised gain."""

from __future__ import annotations

import html
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

Table = Callable[[pd.DataFrame], str]
Figure = Callable[[Path, Path, str], str]
DOMAIN_MEASURES = ("proxy_a_distance", "mmd")


def layer_sections(
    records: list[dict[str, Any]],
    similarity: Path,
    out: Path,
    page: Path,
    table: Table,
    figure: Figure,
) -> list[str]:
    """HTML parts for the four views; a view with nothing to show is left out."""
    return (
        _depth(records, out, page, table, figure)
        + _layer_transfer(records, out, page, table, figure)
        + _layer_cka(similarity, out, page, table, figure)
        + _domains(similarity, table)
    )


def _pngs(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.suffix == ".png"]


def _depth(records, out, page, table, figure) -> list[str]:
    from harness.analysis.depth import best_layers, depth_table, write_depth

    written = write_depth(records, out / "img" / "depth")
    if not written:
        return []
    best = best_layers(depth_table(records))
    keep = [
        c
        for c in ("backbone", "source", "target", "fraction", "family", "best", "best_mean")
        + ("best_ci_low", "best_ci_high", "n", "last_mean", "best_minus_last")
        if c in best.columns
    ]
    return [
        "<h2 id='depth'>Score by depth</h2>",
        "<p class='note'>a linear probe on the frozen features of every layer (1 = the "
        "embeddings or stem, n = the last block), mean over seeds with its 95 % interval; the "
        "best layer is picked on the scores shown, so it says where the features lie</p>",
        table(best[keep]),
        *[figure(p, page, p.stem.replace("__", " | ")) for p in _pngs(written)],
    ]


def _layer_transfer(records, out, page, table, figure) -> list[str]:
    from harness.analysis.layer_transfer import write_layer_transfer

    written, _, effects = write_layer_transfer(records, out / "img" / "layer_transfer")
    if not written:
        return []
    return [
        "<h2 id='layer-transfer'>Layer transfer (Yosinski et al. 2014, Figure 2)</h2>",
        "<p class='note'>the first n layer groups of a base network kept (BnB: the target's own, "
        "AnB: another task's), frozen or fine-tuned (+), the rest re-initialised and trained on "
        "the target; n = 0 is training from scratch. The effects below are paired differences "
        "over seeds with 95 % t intervals.</p>",
        table(effects),
        *[figure(p, page, p.stem.replace("__", " | ")) for p in _pngs(written)],
    ]


def _layer_cka(similarity: Path, out, page, table, figure) -> list[str]:
    parting = similarity / "layer_cka_parting.csv"
    if not parting.exists():
        return []
    frame = pd.read_csv(parting)
    (out / "img" / "layer_cka").mkdir(parents=True, exist_ok=True)
    parts = [
        "<h2 id='layer-cka'>Layer-by-layer CKA</h2>",
        "<p class='note'>linear CKA between the encoder trained on the source and the one "
        "trained on the target, at every pair of layers, on the same probe inputs; the "
        "parting depth is the first layer whose same-layer CKA falls below the level</p>",
        table(frame),
    ]
    for png in sorted(similarity.glob("layer_cka_*.png")):
        copy = out / "img" / "layer_cka" / png.name
        shutil.copyfile(png, copy)
        parts.append(figure(copy, page, png.stem.replace("_", " ")))
    return parts


def domain_table(similarity: Path) -> pd.DataFrame:
    """Per (source, target) pair with a realised gain: the share of the target's labels the
    source has (`label_overlap`: above 0 for a domain pair), the domain divergences, then the
    task measures, then the gain with its 95 % interval over seeds, from the files
    `transferbench similarity` writes (a failed score reads `failed: <reason>`)."""
    gain_file = similarity / "gain.csv"
    files = {m: similarity / f"{m}.csv" for m in DOMAIN_MEASURES}
    if not gain_file.exists() or not any(f.exists() for f in files.values()):
        return pd.DataFrame()
    from harness.similarity.registry import MEASURES

    def long(path: Path, name: str) -> pd.Series:
        m = pd.read_csv(path, index_col=0)
        m.index.name, m.columns.name = "source", "target"
        return m.stack().rename(name)

    gain = long(gain_file, "gain").dropna()
    others = [n for n in MEASURES.names() if n not in DOMAIN_MEASURES]
    columns = [
        long(similarity / f"{n}.csv", n)
        for n in (*DOMAIN_MEASURES, *others)
        if (similarity / f"{n}.csv").exists()
    ]
    overlap = similarity / "label_overlap.csv"
    if overlap.exists():  # first: which pairs share labels (domain pairs) and which do not
        columns.insert(0, long(overlap, "label_overlap"))
    frame = pd.concat(columns, axis=1).join(gain, how="inner")
    intervals = similarity / "gain_intervals.csv"
    if intervals.exists():  # the gain's 95 % interval over seeds
        iv = pd.read_csv(intervals).set_index(["source", "target"])
        iv = iv[["ci_low", "ci_high", "seeds"]].add_prefix("gain_")
        frame = frame.join(iv, how="left")
    return frame.reset_index()


def _domains(similarity: Path, table) -> list[str]:
    frame = domain_table(similarity)
    if frame.empty:
        return []
    return [
        "<h2 id='domains'>Domains</h2>",
        "<p class='note'>"
        + html.escape(
            "label_overlap: the share of the target's label names the source uses too, within one "
            "modality (a domain pair shares them; equal names do not make two tasks one); each "
            "pair's domain divergences as similarities "
            "(proxy_a_distance = −PAD, PAD = "
            "2(1 − 2ε) for the held-out error ε of a classifier telling the two inputs apart; "
            "mmd = −MMD², Gaussian kernel at the median distance; 0 = indistinguishable) beside "
            "the task measures and the realised gain"
        )
        + "</p>",
        table(frame),
    ]
