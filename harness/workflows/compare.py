"""`transferbench compare`: a results folder against a reference results folder, run group by
run group and metric, with a tolerance that comes from the seed-to-seed spread.

Runs are matched by their spec's content (the record's `spec`, hashed the way `RunSpec.id` is:
unset fields added after spec version 1 do not count), never by file name. A *run group* is a
spec without its seed: one backbone, method variant with its settings, sources or task set,
target, fraction, budgets and task versions. Its seeds are pooled.

For each group and each metric of the target card, with reference seed scores x (n₁ of them)
and new ones y (n₂), s² the sample variances:

    change    = mean(y) − mean(x)
    SE        = √(s₁²/n₁ + s₂²/n₂)         (Welch; a side with one seed borrows the other's s²)
    df        = Welch–Satterthwaite degrees of freedom
    tolerance = max(t(1 − α; df) · SE, floor)

A REGRESSION is a change in the metric's worse direction (down for `max` metrics such as
accuracy, up for `min` ones such as mse) larger than the tolerance: the one-sided Welch t-test
rejects "no worse" at level α, and the change clears the floor. A change as large in the
better direction is "improved". The floor (`--min_tolerance`) is what a group whose seeds all
score the same (SE 0: deterministic, or saturated at accuracy 1.0) or one seed on each side is
held to, in the metric's units. A new run that failed where the reference's succeeded is a
regression too.

Exit status: 1 on any regression (and, with `--fail_on_missing`, on reference runs missing from
the results), 0 otherwise; unusable input (a missing folder, a corrupt record, no run in common)
is a `DataError`, exit 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from harness.errors import ConfigError, DataError
from harness.records import find_records, read_record

ALPHA = 0.01  # one-sided level of the Welch test per group and metric
MIN_TOLERANCE = 0.005  # floor of the tolerance, in the metric's units (half a point of accuracy)


# --- the noise bound ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """How far a mean may move before seed noise no longer explains it."""

    tolerance: float
    se: float  # standard error of the difference of the means (nan: no spread measurable)
    df: float  # Welch–Satterthwaite degrees of freedom (nan with no spread)
    k: float  # t(1 − α; df), the multiple of SE (nan with no spread)
    basis: str  # "seeds" (k·SE) or "floor" (the floor was larger, or no spread)


def noise_bound(
    ref: Sequence[float], new: Sequence[float], alpha: float = ALPHA, floor: float = MIN_TOLERANCE
) -> Bound:
    """max(t(1 − α; df) · SE, floor) for the difference of the means of `new` and `ref`."""
    x, y = np.asarray(ref, float), np.asarray(new, float)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("noise_bound needs at least one value on each side")
    v1 = float(x.var(ddof=1)) if n1 > 1 else math.nan
    v2 = float(y.var(ddof=1)) if n2 > 1 else math.nan
    if n1 > 1 and n2 > 1:
        a, b = v1 / n1, v2 / n2
        se = math.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1)) if a + b > 0 else math.nan
    elif n1 > 1 or n2 > 1:  # one seed on one side: assume it varies as the other side does
        v, n = (v1, n1) if n1 > 1 else (v2, n2)
        se, df = math.sqrt(v * (1 / n1 + 1 / n2)), float(n - 1)
    else:
        se, df = math.nan, math.nan
    if se > 0 and math.isfinite(df):
        k = float(stats.t.ppf(1 - alpha, df))
        return Bound(max(k * se, floor), se, df, k, "seeds" if k * se >= floor else "floor")
    return Bound(floor, se, df, math.nan, "floor")


def judge(
    ref: Sequence[float],
    new: Sequence[float],
    direction: str,
    alpha: float = ALPHA,
    floor: float = MIN_TOLERANCE,
) -> dict[str, Any]:
    """Change of the mean from `ref` to `new`, its tolerance and status (ok / improved /
    REGRESSION), the one-sided p-value that `new` is worse, and the seed statistics."""
    x, y = np.asarray(ref, float), np.asarray(new, float)
    bound = noise_bound(x, y, alpha, floor)
    change = float(y.mean() - x.mean())
    worse = -change if direction == "max" else change  # > 0: moved the bad way
    p = float(stats.t.sf(worse / bound.se, bound.df)) if bound.se > 0 and bound.df > 0 else math.nan
    status = "ok"
    if worse > bound.tolerance:
        status = "REGRESSION"
    elif -worse > bound.tolerance:
        status = "improved"
    return {
        "reference_mean": float(x.mean()),
        "reference_std": _std(x),
        "reference_n": len(x),
        "new_mean": float(y.mean()),
        "new_std": _std(y),
        "new_n": len(y),
        "change": change,
        "tolerance": bound.tolerance,
        "se": bound.se,
        "df": bound.df,
        "k": bound.k,
        "basis": bound.basis,
        "p_value": p,
        "status": status,
    }


def _std(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else 0.0


# --- reading a side ---------------------------------------------------------------------------


def _canonical(spec: dict[str, Any], seed: bool) -> dict[str, Any]:
    from harness.spec import canonical_spec

    d = canonical_spec({k: v for k, v in spec.items() if seed or k != "seed"})  # as RunSpec.id
    d["fraction"] = float(d["fraction"])
    return d


def spec_key(spec: dict[str, Any], seed: bool = True) -> str:
    """The content hash of a spec (without its seed: the run group's)."""
    blob = json.dumps(_canonical(spec, seed), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def source_label(spec: dict[str, Any]) -> str:
    """What a run started from: its sources (`a+b`), a task set (`{a,b}`), or `none`."""
    if spec.get("task_set"):
        return "{" + ",".join(spec["task_set"]) + "}"
    return "+".join(spec.get("sources") or []) or "none"


def label_of(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "backbone": spec["backbone"]["name"],
        "variant": spec["variant"],
        "source": source_label(spec),
        "target": spec["target"],
        "fraction": float(spec["fraction"]),
    }


def describe(label: dict[str, Any]) -> str:
    return (
        f"{label['variant']} | {label['source']} -> {label['target']} | "
        f"frac {label['fraction']:g} | {label['backbone']}"
    )


def record_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Every finite metric of a successful record; the primary one is `primary_score`."""
    out = {}
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        for name, value in metrics.items():
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                out[str(name)] = float(value)
    out[record["primary_metric"]] = float(record["primary_score"])
    return out


def metrics_problem(record: dict[str, Any]) -> str | None:
    """What is wrong with a successful record's `metrics` (None: nothing). The runner records
    every metric of the target, the primary one among them; a record without them was not
    written by a run (edited, or made by hand) and is not compared on its primary score alone."""
    if record["status"] != "ok":
        return None
    metrics, primary = record.get("metrics"), record["primary_metric"]
    if not isinstance(metrics, dict) or not metrics:
        shown = "missing" if metrics is None else f"{metrics!r}"[:40]
        return (
            f"a successful record without its metrics ('metrics' is {shown}; a run records every "
            f"metric of its target, '{primary}' among them)"
        )
    if primary not in metrics:
        return f"its 'metrics' ({', '.join(map(str, metrics))}) lack its primary metric '{primary}'"
    return None


def metric_direction(name: str, record: dict[str, Any]) -> str:
    """`max` or `min`: the card's direction for its primary metric, else the metric's own."""
    from harness.metrics import METRICS

    if name == record.get("primary_metric") and record.get("direction") in ("max", "min"):
        return record["direction"]
    spec = METRICS.get(name)
    return spec.direction if spec else "max"


@dataclass
class Side:
    """The records of one results folder, by spec content."""

    path: Path
    runs: dict[str, dict[str, Any]]  # spec_key -> record
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        created = sorted(str(r["created"]) for r in self.runs.values() if r.get("created"))
        commits = sorted(
            {
                str((r.get("provenance") or {}).get("git_commit") or "unknown")[:10]
                for r in self.runs.values()
            }
        )
        return {
            "path": str(self.path),
            "runs": len(self.runs),
            "failed": sum(r["status"] != "ok" for r in self.runs.values()),
            "created_first": created[0] if created else None,
            "created_last": created[-1] if created else None,
            "git_commits": commits,
        }


def load_side(path: str | Path, flag: str) -> Side:
    """Every record under a results folder (searched recursively), keyed by spec content. A
    missing or empty folder, or a file that is not a record, is a DataError naming it."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{flag} {path}: no such results folder")
    if not path.is_dir():
        raise DataError(f"{flag} {path}: is a file; give the folder `transferbench run` wrote")
    files = find_records(path)
    if not files:
        raise DataError(f"{flag} {path}: no run records in it (JSON files under a runs/ folder)")
    side = Side(path, {})
    for file in files:
        try:
            record = read_record(file)
        except DataError as exc:
            raise DataError(f"{flag}: {exc}") from exc
        problem = metrics_problem(record)
        if problem:
            raise DataError(f"{flag} {path}: {file}: run {record['run_id']}: {problem}")
        key = spec_key(record["spec"])
        old = side.runs.get(key)
        if old is not None:
            keep = max(old, record, key=lambda r: str(r.get("created") or ""))
            side.notes.append(
                f"{flag} {path}: runs {old['run_id']} and {record['run_id']} have the "
                f"same spec ({describe(label_of(record['spec']))}, seed "
                f"{record['spec']['seed']}); the newer, {keep['run_id']}, is used"
            )
            record = keep
        side.runs[key] = record
    return side


# --- comparing --------------------------------------------------------------------------------


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def spec_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The dotted spec fields (seed aside) in which two specs differ."""
    fa, fb = _flatten(_canonical(a, False)), _flatten(_canonical(b, False))
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k, "<unset>") != fb.get(k, "<unset>"))


def _run_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {
        **label_of(record["spec"]),
        "seed": record["spec"]["seed"],
        "run_id": record["run_id"],
        "status": record["status"],
    }
    if record["status"] == "ok":
        row["score"] = float(record["primary_score"])
        row["metric"] = record["primary_metric"]
    else:
        row["error"] = str(record.get("error") or "?")
    return row


def _hints(only_ref: dict[str, dict], only_new: dict[str, dict]) -> list[str]:
    """For groups that look the same in both (same label) but did not match: what differs."""
    by_label: dict[str, dict] = {}
    for r in only_new.values():
        by_label.setdefault(describe(label_of(r["spec"])), r)
    hints, seen = [], set()
    for r in only_ref.values():
        name = describe(label_of(r["spec"]))
        if name in by_label and name not in seen:
            seen.add(name)
            diff = spec_diff(r["spec"], by_label[name]["spec"])
            shown = ", ".join(diff[:6]) + (f" and {len(diff) - 6} more" if len(diff) > 6 else "")
            hints.append(f"{name}: the spec differs in {shown}")
    return hints


def compare(
    reference: Side, results: Side, alpha: float = ALPHA, floor: float = MIN_TOLERANCE
) -> dict[str, Any]:
    """Group by group and metric: reference and new seed statistics, the change, its
    tolerance and status; plus the runs only in one of the two and the failed ones."""
    only_ref = {k: r for k, r in reference.runs.items() if k not in results.runs}
    only_new = {k: r for k, r in results.runs.items() if k not in reference.runs}
    matched = len(reference.runs) - len(only_ref)
    if matched == 0:
        hints = _hints(only_ref, only_new)
        raise DataError(
            f"no run in --results {results.path} ({len(results.runs)} runs) has the spec of a run in "
            f"--reference {reference.path} ({len(reference.runs)} runs): nothing to compare"
            + ("; e.g. " + "; ".join(hints[:3]) if hints else "")
            + ". Compare runs of the same suite, or refresh the reference (docs/nightly.md)"
        )
    groups: dict[str, dict[str, Any]] = {}
    for side, runs in (("ref", reference.runs), ("new", results.runs)):
        for r in runs.values():
            g = groups.setdefault(
                spec_key(r["spec"], seed=False),
                {"label": label_of(r["spec"]), "ref": [], "new": []},
            )
            g[side].append(r)
    rows, failed, notes = [], [], [*reference.notes, *results.notes]
    for gkey, g in groups.items():
        ok_ref = [r for r in g["ref"] if r["status"] == "ok"]
        ok_new = [r for r in g["new"] if r["status"] == "ok"]
        ref_ok_keys = {spec_key(r["spec"]) for r in ok_ref}
        for r in g["new"]:
            if r["status"] != "ok":
                was_ok = spec_key(r["spec"]) in ref_ok_keys
                failed.append(
                    {
                        **_run_row(r),
                        "reference_status": "ok"
                        if was_ok
                        else ("failed" if spec_key(r["spec"]) in reference.runs else "absent"),
                        "regression": was_ok,
                    }
                )
        new_ok_keys = {spec_key(r["spec"]) for r in ok_new}
        for r in g["ref"]:
            if r["status"] != "ok" and spec_key(r["spec"]) in new_ok_keys:
                notes.append(
                    f"{describe(g['label'])}, seed {r['spec']['seed']}: failed in the "
                    f"reference ({r['run_id']}), succeeds now"
                )
        if not ok_ref or not ok_new:
            continue
        values_ref = [record_metrics(r) for r in ok_ref]
        values_new = [record_metrics(r) for r in ok_new]
        primary = ok_ref[0]["primary_metric"]
        names = sorted(
            {m for v in values_ref for m in v} | {m for v in values_new for m in v},
            key=lambda m: (m != primary, m),
        )
        for metric in names:
            x = [v[metric] for v in values_ref if metric in v]
            y = [v[metric] for v in values_new if metric in v]
            if not x or not y:
                notes.append(
                    f"{describe(g['label'])}: metric {metric} is only in the "
                    f"{'results' if y else 'reference'}; not compared"
                )
                continue
            direction = metric_direction(metric, ok_ref[0])
            rows.append(
                {
                    "group": gkey,
                    **g["label"],
                    "metric": metric,
                    "primary": metric == primary,
                    "direction": direction,
                    **judge(x, y, direction, alpha, floor),
                    "seeds_reference": sorted(r["spec"]["seed"] for r in ok_ref),
                    "seeds_new": sorted(r["spec"]["seed"] for r in ok_new),
                    "run_ids": sorted(r["run_id"] for r in ok_new),
                }
            )
    rows.sort(
        key=lambda r: (
            r["backbone"],
            r["target"],
            r["fraction"],
            r["variant"],
            r["source"],
            not r["primary"],
            r["metric"],
        )
    )
    regressions = [r for r in rows if r["status"] == "REGRESSION"]
    summary = {
        "groups_compared": len({r["group"] for r in rows}),
        "comparisons": len(rows),
        "runs_matched": matched,
        "regressions": len(regressions),
        "failed_regressions": sum(f["regression"] for f in failed),
        "improved": sum(r["status"] == "improved" for r in rows),
        "missing_runs": len(only_ref),
        "new_runs": len(only_new),
        "failed_runs": len(failed),
    }
    return {
        "reference": reference.summary(),
        "results": results.summary(),
        "rule": {
            "alpha": alpha,
            "min_tolerance": floor,
            "text": (
                f"REGRESSION when a group's mean moves the worse way by more than "
                f"max(t(1-alpha; Welch df) * SE, floor), SE = sqrt(s1^2/n1 + s2^2/n2) "
                f"over seeds; alpha = {alpha:g} one-sided, floor = {floor:g}"
            ),
        },
        "summary": summary,
        "rows": rows,
        "failed": failed,
        "missing": sorted((_run_row(r) for r in only_ref.values()), key=_row_order),
        "new": sorted((_run_row(r) for r in only_new.values()), key=_row_order),
        "hints": _hints(only_ref, only_new),
        "notes": notes,
    }


def _row_order(row: dict[str, Any]) -> tuple:
    return (
        row["backbone"],
        row["target"],
        row["fraction"],
        row["variant"],
        row["source"],
        row["seed"],
    )


def is_failure(report: dict[str, Any], fail_on_missing: bool = False) -> bool:
    s = report["summary"]
    return bool(
        s["regressions"] or s["failed_regressions"] or (fail_on_missing and s["missing_runs"])
    )


# --- rendering --------------------------------------------------------------------------------


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
                f"- **{describe(r)}**, {r['metric']} ({r['direction']} is better): reference "
                f"{_stat(r['reference_mean'], r['reference_std'], r['reference_n'])}, new "
                f"{_stat(r['new_mean'], r['new_std'], r['new_n'])}, change {r['change']:+.4f} "
                f"beyond the tolerance {r['tolerance']:.4f}{p}; runs {', '.join(r['run_ids'])}"
            )
        for f in report["failed"]:
            if f["regression"]:
                lines.append(
                    f"- **{describe(f)}**, seed {f['seed']}: run {f['run_id']} FAILED "
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


# --- the command ------------------------------------------------------------------------------


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


def check_level(alpha: float, floor: float) -> None:
    if not 0 < alpha < 0.5:
        raise ConfigError(f"--alpha {alpha:g}: must be between 0 and 0.5 (a one-sided test level)")
    if not (math.isfinite(floor) and floor >= 0):
        raise ConfigError(
            f"--min_tolerance {floor:g}: must be a number >= 0 (in the metric's units)"
        )


def cmd_compare(args: argparse.Namespace) -> int:
    check_level(args.alpha, args.min_tolerance)
    reference = load_side(args.reference, "--reference")
    results = load_side(args.results, "--results")
    report = compare(reference, results, args.alpha, args.min_tolerance)
    text = to_json(report) if args.format == "json" else to_markdown(report, args.fail_on_missing)
    print(text, end="")
    if args.output:
        write_output(text, args.output)
    return 1 if is_failure(report, args.fail_on_missing) else 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare a results folder with a reference one (nightly regression check)",
        description="Per run group (spec without seed) and metric: reference and new mean over "
        "seeds, the change, and REGRESSION when it is worse than seed noise explains "
        "(docs/nightly.md). Exit 1 on a regression, 2 on unusable input, 0 otherwise.",
    )
    p.add_argument(
        "--reference",
        required=True,
        help="reference results folder (e.g. results/reference/nightly)",
    )
    p.add_argument("--results", default="results/nightly", help="the new results folder")
    p.add_argument("--format", default="md", choices=["md", "json"])
    p.add_argument("--output", help="also write the report to this file")
    p.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        help=f"one-sided level of the Welch test per group and metric (default {ALPHA:g})",
    )
    p.add_argument(
        "--min_tolerance",
        type=float,
        default=MIN_TOLERANCE,
        help=f"floor of the tolerance in metric units, for groups with no seed spread "
        f"(default {MIN_TOLERANCE:g})",
    )
    p.add_argument(
        "--fail_on_missing",
        action="store_true",
        help="exit 1 also when reference runs are missing from the results",
    )
    p.set_defaults(func=cmd_compare)
