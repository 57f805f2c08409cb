"""One side of `transferbench compare`: the records of a results folder keyed by the content of
their spec (hashed the way `RunSpec.id` is), and the labels and metrics read from them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.records import find_records, read_record
from harness.spec import canonical_spec, describe_label, spec_of


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
        key = spec_of(record["spec"]).key()
        old = side.runs.get(key)
        if old is not None:
            keep = max(old, record, key=lambda r: str(r.get("created") or ""))
            side.notes.append(
                f"{flag} {path}: runs {old['run_id']} and {record['run_id']} have the "
                f"same spec ({describe_label(spec_of(record['spec']).label())}, seed "
                f"{record['spec']['seed']}); the newer, {keep['run_id']}, is used"
            )
            record = keep
        side.runs[key] = record
    return side


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def spec_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The dotted spec fields (seed aside) in which two specs differ."""
    fa, fb = (_flatten(canonical_spec({k: v for k, v in d.items() if k != "seed"})) for d in (a, b))
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k, "<unset>") != fb.get(k, "<unset>"))
