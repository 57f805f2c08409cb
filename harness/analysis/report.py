"""`transferbench report`: one static HTML page per results folder (`<results>/report/index.html`)
with the leaderboard and its floors, the multi-task tables, the gain matrices as Hinton
diagrams, learning curves, the similarity matrices and their correlation with gain (when
`transferbench similarity --results` has run), and the provenance of every run: the page a
person opens after a nightly run. Pictures are files beside the page (PNG), linked relatively,
so the folder can be copied or served as it is; each carries the numbers it draws
(`harness.analysis.plots.read_data`). Intervals are cut at the metric's range and marked when
they rest on fewer than 3 seeds, and similarity statistics over too few pairs to rank read
`n/a: 2 pairs`, each with its footnote."""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from harness import __version__
from harness.analysis.leaderboard import DELTA_M_NOTE, build, interval_footnote
from harness.analysis.plots import draw_hinton, draw_learning_curve
from harness.analysis.report_layers import layer_sections
from harness.records import load_records, parse_json

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
th { background: #f4f4f4; } tr.floor td { color: #777; font-style: italic; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 560px; border: 1px solid #eee; } figcaption { font-size: 0.8em; color: #555; }
.note { color: #555; font-size: 0.9em; }
"""


def _table(df: pd.DataFrame, cls: str = "") -> str:
    if df.empty:
        return "<p class='note'>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        floor = " class='floor'" if str(r.get("method", "")) == "majority" else ""
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(_fmt(v))}</td>" for v in r.values)
        rows.append(f"<tr{floor}>{cells}</tr>")
    return (
        f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _figure(path: Path, page: Path, caption: str) -> str:
    rel = path.relative_to(page.parent).as_posix()
    return f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}</figcaption></figure>"


def learning_curves(agg: pd.DataFrame, out: Path) -> list[tuple[Path, str]]:
    """Score against the target's data fraction, one line per method and source, per target
    (`harness.analysis.plots.learning_curve_figure`)."""
    figures = []
    for (backbone, target), g in agg.groupby(["backbone", "target"]):
        if g["fraction"].nunique() < 2:
            continue
        name = f"curve_{backbone}_{target}".replace("/", "_")
        png = draw_learning_curve(g, out / name, title=f"{target} ({backbone})")[0]
        figures.append((png, f"learning curve: {target} ({backbone})"))
    return figures


def write_report(results: Path) -> Path:
    """Write `<results>/report/index.html` (and its pictures); return the page's path."""
    results = Path(results)
    out = results / "report"
    if out.exists():
        shutil.rmtree(out)
    (out / "img").mkdir(parents=True)
    page = out / "index.html"
    board = build(results, None, "md", strict=False)
    parts = [
        f"<h1>TransferBench report: {html.escape(results.name)}</h1>",
        f"<p class='note'>transferbench {__version__}; records under {html.escape(str(results))}</p>",
    ]
    if board["problems"]:
        parts.append(
            "<p class='note'>skipped records that do not read: "
            + "; ".join(html.escape(p) for p in board["problems"])
            + "</p>"
        )
    agg = board.get("aggregate", pd.DataFrame())
    if agg is None or agg.empty:
        parts.append("<p>(no successful runs recorded)</p>")
    else:
        from harness.analysis.leaderboard import leaderboard_table

        board_table = leaderboard_table(agg)
        parts += [
            "<h2 id='leaderboard'>Leaderboard</h2>",
            "<p class='note'>mean ± std over seeds, 95 % interval; the <i>majority</i> row of each target is "
            "the best constant predictor on its scored split.</p>",
            _table(board_table, "leaderboard"),
        ]
        if interval_footnote(board_table):
            parts.append(
                f"<p class='note interval-note'>{html.escape(interval_footnote(board_table))}</p>"
            )
        for key, title, note in (
            ("delta_m", "Δm: multi-task relative gain (%)", DELTA_M_NOTE),
            ("distillation", "Distillation", ""),
        ):
            frame = board.get(key)
            if frame is not None and not frame.empty:
                parts.append(f"<h2 id='{key}'>{title}</h2>")
                if note:
                    parts.append(f"<p class='note'>{html.escape(note)}</p>")
                parts.append(_table(frame, key))
        matrices = board.get("matrices") or {}
        if matrices:
            parts.append("<h2 id='gains'>Gain matrices (source × target)</h2>")
            for name, m in matrices.items():
                if m.empty or not m.notna().any().any():
                    continue
                png = draw_hinton(m, out / "img" / f"gain_{name}".replace("/", "_"), title=name)[0]
                parts.append(_figure(png, page, f"gain: {name.replace('__', ' | ')}"))
        curves = learning_curves(agg, out / "img")
        if curves:
            parts.append("<h2 id='curves'>Learning curves</h2>")
            parts += [_figure(p, page, c) for p, c in curves]
    parts += _similarity_section(results / "similarity", out, page)
    records, _ = load_records(results, strict=False)
    parts += layer_sections(records, results / "similarity", out, page, _table, _figure)
    parts += ["<h2 id='provenance'>Provenance</h2>", _provenance(results, page)]
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>TransferBench report</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    return page


def _similarity_section(folder: Path, out: Path, page: Path) -> list[str]:
    if not folder.is_dir():
        return [
            "<h2 id='similarity'>Similarity</h2><p class='note'>not computed: run "
            "<code>transferbench similarity --results DIR</code></p>"
        ]
    parts = ["<h2 id='similarity'>Similarity</h2>"]
    corr = folder / "correlation.csv"
    if corr.exists():
        from harness.analysis.correlation import TOO_FEW_NOTE, row_rankable

        table = pd.read_csv(corr)
        keep = [
            c
            for c in (
                "family",
                "measure",
                "kendall_tau",
                "kendall_tau_p",
                "per_target_tau",
                "per_target_tau_p",
                "top1",
                "top3",
                "pairs",
            )
            if c in table.columns
        ]
        shown, note = _with_ceiling(table, keep)
        shown = _correlation_cells(table, shown)
        parts += [
            "<p class='note'>each measure against the realised gain (τ with its 95 % bootstrap interval, "
            "one-sided permutation p); the k-NN probe and the floors are the baselines to beat"
            + note
            + "</p>",
            _table(shown),
        ]
        if not all(row_rankable(r) for _, r in table.iterrows()):
            parts.append(f"<p class='note too-few'>{html.escape(TOO_FEW_NOTE)}</p>")
    when = folder / "when_to_transfer.csv"
    if when.exists():
        parts += [
            "<h2 id='when'>When to transfer</h2><p class='note'>the best method per data fraction and "
            "similarity tercile, its margin over the runner-up and that margin's 95 % interval</p>",
            _table(pd.read_csv(when)),
        ]
    truth = folder / "known_relatedness.csv"
    if truth.exists():
        from harness.analysis.correlation import truth_readable

        parts += [
            "<p class='note'>against the known relatedness of synthetic families</p>",
            _table(truth_readable(pd.read_csv(truth))),
        ]
    (out / "img" / "similarity").mkdir(exist_ok=True)
    for png in sorted(folder.glob("*.png")):
        if png.name.startswith("layer_cka_"):  # in the layer-by-layer CKA section
            continue
        copy = out / "img" / "similarity" / png.name
        shutil.copyfile(png, copy)
        parts.append(_figure(copy, page, png.stem.replace("_", " ")))
    return parts


def _correlation_cells(table: pd.DataFrame, shown: pd.DataFrame) -> pd.DataFrame:
    """`correlation.csv`'s statistics as the page shows them: τ with its interval in one cell, or
    `n/a: 2 pairs` where the row has too few pairs to rank (the numbers stay in the csv)."""
    from harness.analysis.correlation import row_rankable, statistic_text, too_few_text

    out = shown.astype(object)
    rows = [r for _, r in table.iterrows()]
    for stat in ("kendall_tau", "per_target_tau"):
        if stat in out:
            out[stat] = [statistic_text(r, stat) for r in rows]
    for rate in ("top1", "top3"):
        if rate in out:
            out[rate] = [
                (f"{r[rate]:.2f}" if pd.notna(r[rate]) else "")
                if row_rankable(r)
                else too_few_text(r.get("pairs"), r.get("min_p"))
                for r in rows
            ]
    return out


def _with_ceiling(table: pd.DataFrame, keep: list[str]) -> tuple[pd.DataFrame, str]:
    """The correlation table's columns to show, with the noise ceiling of the realised gain (τ
    between seed replicates) beside each τ, and a note that says what it is, per family."""
    from harness.analysis.correlation import ceiling_columns, ceiling_summary

    shown = table[keep].copy()
    if "ceiling_seeds" not in table.columns:
        return shown, "; noise ceiling: not computed (rerun <code>transferbench similarity</code>)"
    for stat in ("kendall_tau", "per_target_tau"):
        after = f"{stat}_p" if f"{stat}_p" in shown.columns else stat
        at = shown.columns.get_loc(after) + 1 if after in shown.columns else len(shown.columns)
        shown.insert(at, f"ceiling_{stat}", ceiling_columns(table, stat))
    notes = []
    for family, rows in table.groupby("family", sort=False):
        widest = (
            rows.sort_values("ceiling_pairs", ascending=False) if "ceiling_pairs" in rows else rows
        )
        notes.append(f"{family}: {ceiling_summary(widest.iloc[0])}")
    return shown, html.escape(". Noise ceiling, per family: " + "; ".join(notes))


def _provenance(results: Path, page: Path) -> str:
    rows = []
    for path in sorted(results.rglob("runs/*.json")):
        try:
            r = parse_json(path.read_text())
            spec, prov = r["spec"], r.get("provenance", {})
            rows.append(
                {
                    "run": f"<a href='{html.escape(Path('..', path.relative_to(results)).as_posix())}'>"
                    f"{html.escape(r['run_id'])}</a>",
                    "method": spec.get("variant"),
                    "target": spec.get("target"),
                    "seed": spec.get("seed"),
                    "status": r.get("status"),
                    "commit": (prov.get("git_commit") or "")[:10],
                    "torch": (prov.get("libraries") or {}).get("torch", ""),
                    "device": (prov.get("device") or {}).get("device", ""),
                    "created": r.get("created", ""),
                }
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    if not rows:
        return "<p class='note'>(no records)</p>"
    head = "".join(f"<th>{k}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(f"<td>{v if k == 'run' else html.escape(str(v))}</td>" for k, v in r.items())
        + "</tr>"
        for r in rows
    )
    return f"<table class='provenance'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
