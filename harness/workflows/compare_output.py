"""The report of `transferbench compare` as Markdown or JSON, and writing it to a file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.spec import describe_label
from harness.workflows.compare import is_failure


def _fmt(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def _when(side: dict[str, Any]) -> str:
    first, last = side["created_first"], side["created_last"]
    if not first:
        return "at an unknown time"
    return first if first == last else f"{first} to {last}"


def _stat(mean: float, std: float, n: int) -> str:
    return f"{mean:.4f} ± {std:.4f} (n={n})"


def _table(rows: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else ""


def _run_cells(row: dict[str, Any]) -> dict[str, Any]:
    """A run row (missing, new or failed) as table cells."""
    names = {"variant": "method", "reference_status": "reference"}
    cells = {}
    for key, value in row.items():
        if key == "regression":
            continue
        if key == "fraction":
            value = f"{value:g}"
        elif key == "score":
            value = f"{value:.4f}"
        cells[names.get(key, key)] = value
    return cells


def to_markdown(report: dict[str, Any], fail_on_missing: bool = False) -> str:
    s, ref, new = report["summary"], report["reference"], report["results"]
    bad = s["regressions"] + s["failed_regressions"]
    verdict = "FAIL" if is_failure(report, fail_on_missing) else "PASS"
    lines = [f"## transferbench compare: {verdict}", ""]
    for name, side in (("reference", ref), ("results", new)):
        lines.append(
            f"- {name}: `{side['path']}`: {side['runs']} run(s), created {_when(side)}, "
            f"commit {', '.join(side['git_commits'])}"
        )
    lines.append(f"- rule: {report['rule']['text']} (docs/nightly.md)")
    lines.append(
        f"- {s['runs_matched']} run(s) matched by spec content; {s['groups_compared']} run group(s), "
        f"{s['comparisons']} group × metric comparison(s): **{bad} regression(s)**, "
        f"{s['improved']} improved; {s['missing_runs']} run(s) missing from the results, "
        f"{s['new_runs']} new, {s['failed_runs']} failed"
    )
    regressions = [r for r in report["rows"] if r["status"] == "REGRESSION"]
    if regressions or s["failed_regressions"]:
        lines += ["", "### Regressions", ""]
        for r in regressions:
            p = f", one-sided p = {r['p_value']:.2g}" if not math.isnan(r["p_value"]) else ""
            lines.append(
                f"- **{describe_label(r)}**, {r['metric']} ({r['direction']} is better): reference "
                f"{_stat(r['reference_mean'], r['reference_std'], r['reference_n'])}, new "
                f"{_stat(r['new_mean'], r['new_std'], r['new_n'])}, change {r['change']:+.4f} "
                f"beyond the tolerance {r['tolerance']:.4f}{p}; runs {', '.join(r['run_ids'])}"
            )
        for f in report["failed"]:
            if f["regression"]:
                lines.append(
                    f"- **{describe_label(f)}**, seed {f['seed']}: run {f['run_id']} FAILED "
                    f"(the reference's succeeded): {f['error']}"
                )
    lines += ["", "### Run groups and metrics", ""]
    table = [
        {
            "backbone": r["backbone"],
            "method": r["variant"],
            "source": r["source"],
            "target": r["target"],
            "fraction": f"{r['fraction']:g}",
            "metric": r["metric"] + ("" if r["direction"] == "max" else " ↓"),
            "reference": _stat(r["reference_mean"], r["reference_std"], r["reference_n"]),
            "new": _stat(r["new_mean"], r["new_std"], r["new_n"]),
            "change": f"{r['change']:+.4f}",
            "tolerance": _fmt(r["tolerance"]) + (" (floor)" if r["basis"] == "floor" else ""),
            "p": "" if math.isnan(r["p_value"]) else f"{r['p_value']:.2g}",
            "status": r["status"],
        }
        for r in report["rows"]
    ]
    lines.append(_table(table))
    lines.append("\n↓: lower is better. p: one-sided Welch p-value that the new runs are worse.")
    for title, key in (
        ("Runs only in the reference (missing from the results)", "missing"),
        ("Runs only in the results (new)", "new"),
        ("Failed runs in the results", "failed"),
    ):
        if report[key]:
            rows = [_run_cells(row) for row in report[key]]
            lines += ["", f"### {title}", "", _table(rows)]
    if report["hints"]:
        lines += ["", "### Groups that look alike but differ in their spec", ""]
        lines += [f"- {h}" for h in report["hints"]]
    if report["notes"]:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def to_json(report: dict[str, Any]) -> str:
    def clean(obj: Any) -> Any:
        if isinstance(obj, float) and not math.isfinite(obj):
            return None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    return json.dumps(clean(report), indent=2) + "\n"


def write_output(text: str, path: str | Path, flag: str = "--output") -> Path:
    """Write `text` to `path` (creating its folder); a path that cannot be written is a
    ConfigError naming it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from exc
    return path
