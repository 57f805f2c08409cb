"""The submissions leaderboard as one static, self-contained HTML page: a sortable table per
suite (click a header; numeric columns sort as numbers), filters by modality, task and method
and a free-text filter (a little inline JavaScript, nothing loaded from elsewhere), the
critical-difference diagrams inlined as images, the submissions that were turned away with
their reasons, and a provenance section per row (code version, libraries, device, dataset
fingerprints of each of its runs) that the row links to."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness import __version__
from harness.analysis.intervals import FEW_SEEDS, INTERVAL_NOTE, interval_text
from harness.records import now

if TYPE_CHECKING:
    from harness.workflows.merge import Board

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; margin: 1.2em 0 0.3em; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } table.board th { cursor: pointer; user-select: none; }
th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.baseline td { color: #555; } td.sig { font-weight: bold; }
.controls { background: #f8f8f8; padding: 0.5em; border: 1px solid #eee; }
.controls label { margin-right: 1em; font-size: 0.9em; }
.note { color: #555; font-size: 0.9em; } img.cd { max-width: 900px; border: 1px solid #eee; }
section.prov { border-top: 1px solid #eee; } section.prov:target { background: #fffbe6; }
"""

SCRIPT = """
function sortTable(table, col, th) {
  const numeric = th.dataset.type === 'num';
  const asc = th.dataset.order !== 'asc';
  table.querySelectorAll('thead th').forEach(h => { h.dataset.order = ''; h.classList.remove('asc', 'desc'); });
  th.dataset.order = asc ? 'asc' : 'desc';
  th.classList.add(asc ? 'asc' : 'desc');
  const body = table.tBodies[0];
  const key = row => {
    const cell = row.cells[col];
    const v = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    return numeric ? (v === '' ? NaN : parseFloat(v)) : v.toLowerCase();
  };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (numeric) {
      if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y);  // empty cells last
      return asc ? x - y : y - x;
    }
    return asc ? x.localeCompare(y) : y.localeCompare(x);
  });
  rows.forEach(r => body.appendChild(r));
}
function applyFilters() {
  const value = id => document.getElementById(id).value;
  const modality = value('f-modality'), task = value('f-task'), method = value('f-method');
  const text = value('f-text').trim().toLowerCase();
  let shown = 0;
  document.querySelectorAll('table.board tbody tr').forEach(r => {
    const ok = (!modality || r.dataset.modality === modality) && (!task || r.dataset.task === task)
      && (!method || r.dataset.method === method) && (!text || r.textContent.toLowerCase().includes(text));
    r.style.display = ok ? '' : 'none';
    shown += ok ? 1 : 0;
  });
  document.getElementById('shown').textContent = shown;
}
document.addEventListener('DOMContentLoaded', () => {
  if (!document.getElementById('f-text')) return;  // no rows
  document.querySelectorAll('table.board').forEach(table =>
    table.querySelectorAll('thead th').forEach((th, i) => th.addEventListener('click', () => sortTable(table, i, th))));
  ['f-modality', 'f-task', 'f-method'].forEach(id => document.getElementById(id).addEventListener('change', applyFilters));
  document.getElementById('f-text').addEventListener('input', applyFilters);
  applyFilters();
});
"""

# (header, column of the ranked table, numeric)
COLUMNS = [
    ("modality", "modality", False),
    ("backbone", "backbone", False),
    ("task", "target", False),
    ("fraction", "fraction", True),
    ("metric", "metric", False),
    ("submission", "submission", False),
    ("method", "method", False),
    ("source", "source", False),
    ("mean", "mean", True),
    ("95% CI", "ci_low", True),
    ("seeds", "seeds", True),
    ("rank", "rank", True),
    ("Δ vs best baseline", "delta_vs_best_baseline", True),
    ("p (paired t)", "p_value", True),
    ("significant", "significant", False),
]


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else repr(float(x))


def _cell(row: pd.Series, column: str, numeric: bool) -> str:
    v = row[column]
    if column == "ci_low":
        text = interval_text(
            row["ci_low"],
            row["ci_high"],
            row["ci_kind"],
            int(row["seeds"]),
            bool(row.get("ci_clipped", False)),
        )
        return f"<td class='num' data-sort='{_num(v) if text else ''}'>{_e(text)}</td>"
    if column == "significant":
        text = ("yes" if v else "no") if not pd.isna(row["p_value"]) else ""
        return f"<td class='{'sig' if v else ''}'>{text}</td>"
    if numeric:
        fmt = {
            "fraction": "g",
            "seeds": "d",
            "rank": "g",
            "p_value": ".3g",
            "delta_vs_best_baseline": "+.4f",
        }
        text = (
            ""
            if pd.isna(v)
            else format(int(v) if column == "seeds" else float(v), fmt.get(column, ".4f"))
        )
        return f"<td class='num' data-sort='{_num(v)}'>{_e(text)}</td>"
    return f"<td>{_e(v)}</td>"


def _options(values: list[str]) -> str:
    return "<option value=''>all</option>" + "".join(
        f"<option value='{_e(v)}'>{_e(v)}</option>" for v in values
    )


def _board_table(part: pd.DataFrame, start: int) -> str:
    head = "".join(
        f"<th data-type='{'num' if num else 'text'}'>{_e(h)}</th>" for h, _, num in COLUMNS
    )
    rows = []
    for i, (_, r) in enumerate(part.iterrows(), start):
        cells = "".join(_cell(r, col, num) for _, col, num in COLUMNS)
        cls = "baseline" if r["submission"] == "baseline" else "submitted"
        rows.append(
            f"<tr id='row-{i}' class='{cls}' data-modality='{_e(r['modality'])}' data-task='{_e(r['target'])}' "
            f"data-method='{_e(r['method'])}'>{cells}<td><a href='#prov-{i}'>provenance</a></td></tr>"
        )
    return (
        f"<table class='board'><thead><tr>{head}<th data-type='text'>runs</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _panel(panel: Any) -> str:
    parts = [f"<h3>Critical difference: {_e(panel.suite)}, {_e(panel.modality)}</h3>"]
    if panel.result is not None:
        png = next(p for p in panel.files if p.suffix == ".png")
        data = base64.b64encode(Path(png).read_bytes()).decode()
        parts += [
            f"<p class='note'>{_e(panel.result.describe())}. Methods joined by a bar are not significantly "
            "different (Nemenyi); ranks are over the conditions (target × fraction) every method has.</p>",
            f"<img class='cd' alt='critical difference diagram {_e(panel.suite)} {_e(panel.modality)}' "
            f"src='data:image/png;base64,{data}'>",
        ]
        ranks = "".join(
            f"<tr><td>{_e(n)}</td><td class='num'>{r:.3f}</td></tr>"
            for n, r in zip(panel.result.names, panel.result.avg_ranks)
        )
        parts.append(
            f"<table class='ranks'><thead><tr><th>method</th><th>average rank</th></tr></thead>"
            f"<tbody>{ranks}</tbody></table>"
        )
    if panel.note:
        parts.append(f"<p class='note'>{_e(panel.note)}</p>")
    return "".join(parts)


def _provenance(i: int, row: pd.Series, records: dict) -> str:
    who = row["submission"]
    lines = []
    runs = sorted(
        row["run_ids"], key=lambda i: (records.get((who, i), {}).get("spec", {}).get("seed", 0), i)
    )
    for rid in runs:
        r = records.get((who, rid), {})
        prov = r.get("provenance") or {}
        libs = prov.get("libraries") or {}
        dev = prov.get("device") or {}
        fps = prov.get("dataset_fingerprints") or {}
        src = prov.get("method_source") or {}
        fp = "; ".join(
            f"{t}: " + ", ".join(f"{k}={v}" for k, v in (s or {}).items()) for t, s in fps.items()
        )
        code = f"transferbench {prov.get('transferbench_version', '?')}, commit {prov.get('git_commit') or '?'}"
        if src.get("sha256"):
            code += f"; method file {src.get('file')} sha256 {src['sha256'][:16]}"
        device = ", ".join(
            f"{k} {v}"
            for k, v in dev.items()
            if k
            in ("device", "gpu", "num_processes", "mixed_precision", "torch_threads", "platform")
        )
        lines.append(
            "<tr>"
            + "".join(
                f"<td>{_e(v)}</td>"
                for v in (
                    rid,
                    r.get("spec", {}).get("seed", ""),
                    _num(r.get("primary_score")),
                    r.get("created", ""),
                    code,
                    ", ".join(f"{k} {v}" for k, v in libs.items()),
                    device,
                    fp,
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "run",
            "seed",
            "score",
            "created",
            "code",
            "libraries",
            "device",
            "dataset fingerprints",
        )
    )
    title = f"{row['entry']} on {row['target']}, fraction {row['fraction']:g} ({row['suite']})"
    return (
        f"<section class='prov' id='prov-{i}'><h3>{_e(title)} <a href='#row-{i}'>↑ row</a></h3>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table></section>"
    )


def write_page(board: Board, path: Path) -> Path:
    """Write the page to `path` and return it."""
    table = board.table
    parts = [
        "<h1>TransferBench leaderboard</h1>",
        f"<p class='note'>{len(board.valid)} valid submission(s) ranked with the baselines; written "
        f"{_e(now())} by transferbench {_e(__version__)}. Per row: the mean primary score over seeds with its "
        "95 % interval, the rank within its condition (target × fraction; 1 = best), the difference to the "
        "best baseline of that condition (positive = better) and whether it is significant over seeds by a "
        "paired t-test (α = 0.05). Click a column header to sort.</p>",
    ]
    if not table.empty and (
        table.get("ci_clipped", pd.Series(dtype=bool)).any()
        or ((table["ci_kind"] != "none") & (table["seeds"] < FEW_SEEDS)).any()
    ):
        parts.append(f"<p class='note interval-note'>{_e(INTERVAL_NOTE)}</p>")
    if not table.empty:
        parts.append(
            "<div class='controls'>"
            f"<label>modality <select id='f-modality'>{_options(sorted(table['modality'].unique()))}</select></label>"
            f"<label>task <select id='f-task'>{_options(sorted(table['target'].unique()))}</select></label>"
            f"<label>method <select id='f-method'>{_options(sorted(table['method'].unique()))}</select></label>"
            "<label>filter <input id='f-text' type='search' placeholder='any text'></label>"
            f"<span class='note'><span id='shown'>{len(table)}</span> of {len(table)} rows shown</span></div>"
        )
    start = 0
    for suite, part in table.groupby("suite", sort=True) if not table.empty else []:
        subs = sorted(board.by_suite.get(suite, []))
        parts += [
            f"<h2 id='suite-{_e(suite)}'>Suite {_e(suite)}</h2>",
            f"<p class='note'>submissions: {_e(', '.join(subs)) or '(none)'}</p>",
            _board_table(part, start),
        ]
        parts += [_panel(p) for p in board.panels if p.suite == suite]
        start += len(part)
    if board.invalid:
        items = "".join(
            f"<li><b>{_e(Path(p).name)}</b><ul>{''.join(f'<li>{_e(x)}</li>' for x in probs)}</ul></li>"
            for p, probs in board.invalid
        )
        parts.append(
            f"<h2 id='invalid'>Submissions turned away</h2><ul class='invalid'>{items}</ul>"
        )
    if board.notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in board.notes) + "</ul>"
        )
    if not table.empty:
        parts.append("<h2 id='provenance'>Provenance</h2>")
        parts += [
            _provenance(i, r, board.records)
            for i, (_, r) in enumerate(_page_order(table).iterrows())
        ]
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>TransferBench leaderboard</title>"
        f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>{''.join(parts)}</body></html>",
        encoding="utf-8",
    )
    return path


def _page_order(table: pd.DataFrame) -> pd.DataFrame:
    """The rows in the order the page numbers them (suite by suite, as in `write_page`)."""
    return pd.concat([part for _, part in table.groupby("suite", sort=True)])
