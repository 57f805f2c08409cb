"""`transferbench leaderboard --submissions DIR`: every valid submission in DIR merged with the
baselines into one ranked table per suite, a critical-difference diagram per suite and
modality, and one static HTML page (`<out>/leaderboard/index.html`).

Baselines are the built-in methods (those in `baselines/`) run under their own name: from
`--results` when given (its records of runs of the suite, as submitted or as registered in
`tasks/suites/`), else the runs of built-in methods inside the submissions (one copy per run
id). Everything else a submission ran is its entry, labelled with its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.critical_difference import CDResult, analyse, draw
from harness.analysis.intervals import interval_text
from harness.analysis.ranking import BASELINE, ranked_table, run_row, score_matrix
from harness.errors import DataError, TransferBenchError
from harness.records import load_records
from harness.spec import RunSpec
from harness.suites import expand, load_suite, resolve_suite
from harness.taskregistry import TaskRegistry
from harness.workflows.submission import grid_key, load_and_validate

MIN_CD = 2  # entries and conditions a critical-difference diagram needs at least


@dataclass
class CDPanel:
    suite: str
    modality: str
    result: CDResult | None
    note: str = ""
    files: list[Path] = field(default_factory=list)


@dataclass
class Board:
    table: pd.DataFrame  # ranked rows of every suite (see `ranking.ranked_table`)
    runs: pd.DataFrame
    records: dict[tuple[str, str], dict[str, Any]]  # (submission or baseline, run id) -> record
    valid: list[tuple[Path, str]] = field(default_factory=list)
    by_suite: dict[str, list[str]] = field(default_factory=dict)  # suite -> valid submissions
    invalid: list[tuple[Path, list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    panels: list[CDPanel] = field(default_factory=list)


def find_submissions(folder: Path) -> list[Path]:
    """The `*.json` and `*.json.gz` files directly in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        why = "is a file, not a folder" if folder.exists() else "no such folder"
        raise DataError(f"--submissions {folder}: {why}")
    return sorted(
        p for p in folder.iterdir() if p.is_file() and re.search(r"\.json(\.gz)?$", p.name)
    )


def builtin_methods() -> set[str]:
    """Registered methods whose code is in the `baselines` package."""
    from harness.methods import discover_methods

    reg = discover_methods()
    return {
        n for n in reg.names() if getattr(reg.get(n), "__module__", "").startswith("baselines.")
    }


def is_baseline(spec: dict[str, Any], builtin: set[str]) -> bool:
    return spec["method"] in builtin and spec["variant"] == spec["method"]


def build_board(
    submissions: Path, baselines: Path | None = None, registry: TaskRegistry | None = None
) -> Board:
    """Validate every submission in the folder and rank the valid ones with the baselines."""
    registry = registry or TaskRegistry()
    builtin = builtin_methods()
    modality = {n: c.modality for n, c in registry.cards.items()}
    rows, records = [], {}
    board = Board(table=pd.DataFrame(), runs=pd.DataFrame(), records=records)
    names: set[str] = set()
    seen_baselines: set[tuple[str, str]] = set()
    suite_runs: dict[
        str, set[str]
    ] = {}  # suite -> grid keys of its runs (as submitted, as registered)
    for path in find_submissions(submissions):
        try:
            doc, result = load_and_validate(path, registry)
        except DataError as exc:
            board.invalid.append((path, [str(exc)]))
            continue
        if not result.ok:
            board.invalid.append((path, result.problems))
            continue
        name = doc["name"] if doc["name"] not in names else f"{doc['name']} ({path.name})"
        names.add(name)
        board.valid.append((path, name))
        suite = str(doc["suite"].get("name", "?"))
        board.by_suite.setdefault(suite, []).append(name)
        if suite not in suite_runs:
            suite_runs[suite] = registered_runs(suite, registry)
        suite_runs[suite] |= {grid_key(s) for s in result.specs}
        for r in result.records:
            who = BASELINE if is_baseline(r["spec"], builtin) else name
            if who == BASELINE and (
                baselines is not None or (suite, r["run_id"]) in seen_baselines
            ):
                continue
            if who == BASELINE:
                seen_baselines.add((suite, r["run_id"]))
            rows.append(run_row(r, suite, who, modality.get(r["spec"]["target"], "")))
            records[(who, r["run_id"])] = r
    if baselines is not None:
        rows += _reference_baselines(
            Path(baselines), suite_runs, builtin, registry, modality, records, board.notes
        )
    if board.valid and rows:
        runs = pd.DataFrame(rows)
        twice = runs.duplicated(["suite", "entry", "condition", "seed"])
        if twice.any():  # e.g. two submissions of one suite whose baselines differ in budget
            board.notes.append(
                f"{int(twice.sum())} run(s) left out: the same method, condition and seed "
                "came twice with different specs; the first was kept"
            )
        board.runs = runs[~twice].reset_index(drop=True)
        board.table = ranked_table(board.runs)
    return board


def registered_runs(suite: str, registry: TaskRegistry) -> set[str]:
    """Grid keys of the runs of the registered suite of that name (none if there is none)."""
    from harness.suites import suite_files

    if suite not in suite_files():
        return set()
    try:
        data, where = load_suite(suite)
        return {grid_key(s) for s in expand(resolve_suite(data, {}, where), registry, where)}
    except TransferBenchError:
        return set()


def _reference_baselines(
    folder: Path,
    suite_runs: dict[str, set[str]],
    builtin: set[str],
    registry: TaskRegistry,
    modality: dict[str, str],
    records: dict,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Baseline rows from a results folder: the built-in methods' runs of each suite (its runs
    as submitted or as registered), made without --limit on the registry's cards."""
    found, problems = load_records(folder, strict=False)
    notes += [f"skipped a baseline record that does not read: {p}" for p in problems]
    out, skipped = [], 0
    for r in found:
        spec = r["spec"]
        if r["status"] != "ok" or not is_baseline(spec, builtin):
            continue
        stale = any(
            registry.cards.get(t) is None or registry.cards[t].content_hash != v
            for t, v in (spec.get("task_versions") or {}).items()
        )
        if spec.get("limit") is not None or r.get("comparable") is False or stale:
            skipped += 1
            continue
        try:
            key = grid_key(RunSpec.from_dict(spec))
        except (TypeError, ValueError):
            continue
        for suite in sorted(s for s, keys in suite_runs.items() if key in keys):
            out.append(run_row(r, suite, BASELINE, modality.get(spec["target"], "")))
            records[(BASELINE, r["run_id"])] = r
    if skipped:
        notes.append(
            f"--results: left out {skipped} baseline run(s) made with --limit or an older task card"
        )
    return out


def cd_panels(board: Board, out: Path) -> list[CDPanel]:
    """A critical-difference diagram per suite and modality, over the entries present on every
    condition (target × fraction) of it; say why where there is none."""
    panels = []
    for (suite, mod), part in board.table.groupby(["suite", "modality"], sort=True):
        matrix, left_out = score_matrix(part)
        note = f"left out (not on every condition): {', '.join(left_out)}" if left_out else ""
        if matrix.shape[1] < MIN_CD or matrix.shape[0] < MIN_CD:
            why = (
                f"no diagram: {matrix.shape[1]} method(s) on all of {matrix.shape[0]} condition(s); "
                f"it needs at least {MIN_CD} of each"
            )
            panels.append(CDPanel(suite, mod, None, "; ".join(filter(None, [why, note]))))
            continue
        result = analyse(matrix)
        stem = _slug(f"cd_{suite}_{mod}")
        files = draw(
            result, out / stem, title=f"{suite} ({mod}): average rank over {result.n} conditions"
        )
        result.table().to_csv(out / f"{_slug(f'ranks_{suite}_{mod}')}.csv", index=False)
        panels.append(CDPanel(suite, mod, result, note, files))
    return panels


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _fmt(x: float, spec: str = ".4f") -> str:
    return "" if pd.isna(x) else format(x, spec)


def text_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as people read it (strings)."""
    return pd.DataFrame(
        {
            "suite": table["suite"],
            "modality": table["modality"],
            "target": table["target"],
            "fraction": table["fraction"].map(lambda f: f"{f:g}"),
            "metric": table["metric"],
            "submission": table["submission"],
            "method": table["method"],
            "source": table["source"],
            "mean": table["mean"].map(_fmt),
            "95% CI": [
                interval_text(lo, hi, k, n, bool(c))
                for lo, hi, k, n, c in zip(
                    table["ci_low"],
                    table["ci_high"],
                    table["ci_kind"],
                    table["seeds"],
                    table.get("ci_clipped", pd.Series(False, index=table.index)),
                )
            ],
            "seeds": table["seeds"],
            "rank": table["rank"].map(lambda r: f"{r:g}"),
            "Δ vs best baseline": table["delta_vs_best_baseline"].map(lambda d: _fmt(d, "+.4f")),
            "p (paired t)": table["p_value"].map(lambda p: _fmt(p, ".3g")),
            "significant": [
                "yes" if s else ("no" if pd.notna(p) else "")
                for s, p in zip(table["significant"], table["p_value"])
            ],
        }
    )


def write_board(board: Board, out_dir: Path) -> Path:
    """Write the tables (CSV, Markdown), the diagrams and the HTML page under `out_dir/leaderboard`."""
    from tabulate import tabulate

    from harness.analysis.leaderboard_html import write_page

    out = Path(out_dir) / "leaderboard"
    out.mkdir(parents=True, exist_ok=True)
    board.panels = cd_panels(board, out) if not board.table.empty else []
    for suite, part in board.table.groupby("suite", sort=True) if not board.table.empty else []:
        plain = part.assign(run_ids=part["run_ids"].map(" ".join))
        plain.to_csv(out / f"{_slug(suite)}.csv", index=False)
        (out / f"{_slug(suite)}.md").write_text(
            tabulate(text_table(part), headers="keys", tablefmt="github", showindex=False) + "\n"
        )
    return write_page(board, out / "index.html")
