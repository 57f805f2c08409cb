"""Run records: one versioned JSON file per run, written atomically, read back with checks.

The schema is `harness.run_record.RunRecord` (one field each, commented there); the runner
builds every record through it and `read_record` checks each file against it.

Records are strict JSON (no `NaN`/`Infinity` tokens): a non-finite result (a metric, a loss
in the curve, a measurement) is written as `null`, its field kept; a successful run whose
primary score is not finite is kept as a failed run saying so (there is no score to rank);
a non-finite setting in the spec is refused (`DataError`), as the spec is the run's identity.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import platform
import subprocess
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import DataError
from harness.run_record import SCHEMA_VERSION as SCHEMA_VERSION
from harness.run_record import RunRecord
from harness.run_record import record_problem as record_problem

logger = logging.getLogger(__name__)

RUNS_DIR = "runs"


def record_path(output_dir: Path, run_id: str) -> Path:
    return Path(output_dir) / RUNS_DIR / f"{run_id}.json"


MAX_JSON_DEPTH = 100  # records nest about 8 levels; far deeper is not a file of ours


class JSONTooDeep(ValueError):
    """JSON nested deeper than `MAX_JSON_DEPTH` (or than Python's parser can go)."""


def parse_json(text: str) -> Any:
    """`json.loads`, refusing JSON nested deeper than `MAX_JSON_DEPTH` levels with
    `JSONTooDeep` (a ValueError), never a RecursionError: neither the parser nor any code that
    walks what it read (checksums, validation) runs out of stack. Other malformed text raises
    `json.JSONDecodeError` as usual."""
    try:
        obj = json.loads(text)
    except RecursionError:
        raise JSONTooDeep(
            f"nested deeper than {MAX_JSON_DEPTH} levels (too deep for the JSON parser)"
        ) from None
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise JSONTooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items if isinstance(v, (dict, list)))
    return obj


def _non_finite(obj: Any, prefix: str = "") -> Iterable[tuple[str, Any, Any]]:
    """(dotted path, container, key) of every NaN or infinite float under `obj`."""
    stack = [(obj, prefix)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            items = [(f"{where}.{k}" if where else str(k), k, v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{where}[{i}]", i, v) for i, v in enumerate(value)]
        else:
            continue
        for path, key, v in items:
            if isinstance(v, float) and not math.isfinite(v):
                yield path, value, key
            elif isinstance(v, (dict, list)):
                stack.append((v, path))


def strict_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of `record` that is strict JSON (see the module's docstring): non-finite values
    become null (listed in `non_finite`); a successful run whose primary score is not finite
    becomes a failed one saying so; a non-finite setting in `spec` raises a DataError."""
    record = json.loads(json.dumps(record, default=str))  # a copy, as plain JSON types
    where = f"run {record.get('run_id')}"
    bad_spec = [
        f"{path} = {container[key]}"
        for path, container, key in _non_finite(record.get("spec"), "spec")
    ]
    if bad_spec:
        raise DataError(
            f"{where}: settings must be finite numbers, got {', '.join(sorted(bad_spec))}: "
            "the record is not written (correct the suite or method settings)"
        )
    score = record.get("primary_score")
    if record.get("status") == "ok" and isinstance(score, float) and not math.isfinite(score):
        metric = record.get("primary_metric", "the primary metric")
        record["status"] = "failed"
        record["error"] = (
            f"primary metric '{metric}' is {score} on the scored split (constant "
            "predictions, say): no score to rank"
        )
        logger.warning("%s: %s", where, record["error"])
    nulled = []
    for path, container, key in list(_non_finite(record)):
        container[key] = None
        nulled.append(path)
    if nulled:
        record["non_finite"] = sorted(nulled)
    return record


def write_record(record: dict[str, Any], output_dir: Path) -> Path:
    """Write atomically (temp file + rename): a reader never sees half a record. What is
    written is strict JSON (`strict_record`)."""
    record = strict_record(record)
    path = record_path(output_dir, record["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # a record that does not read is kept aside, never overwritten unseen
        try:
            read_record(path)
        except DataError:
            path.replace(path.with_name(f"{path.name}.corrupt-{dt.datetime.now():%Y%m%d%H%M%S}"))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=str, allow_nan=False))
    os.replace(tmp, path)
    return path


def read_record(path: Path) -> dict[str, Any]:
    """A record, checked: any file that is not one raises a DataError naming the file and why."""
    try:
        record = parse_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, JSONTooDeep
        raise DataError(f"{path}: corrupt run record: {exc}") from exc
    RunRecord.from_dict(record, str(path))  # the typed record's checks
    return record


def find_records(results: Path) -> list[Path]:
    """Every record under `results` (recursively, in `runs/` folders)."""
    results = Path(results)
    if not results.exists():
        raise DataError(f"{results}: no such results folder")
    return sorted(p for p in results.rglob(f"{RUNS_DIR}/*.json") if not p.name.startswith("."))


def load_records(results: Path, strict: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    """All records under `results`, each run once: a record is keyed by the id inside it, so a
    copy under another file name is not a second seed, and a file whose name is not its id is
    named in a warning. Corrupt files raise (strict) or are reported and skipped."""
    records, problems = [], []
    seen: dict[str, Path] = {}
    for path in find_records(results):
        try:
            record = read_record(path)
        except DataError as exc:
            if strict:
                raise
            problems.append(str(exc))
            continue
        run_id = str(record["run_id"])
        if path.stem != run_id:
            logger.warning(
                "%s: the record inside is run %s; its file name should be %s.json",
                path,
                run_id,
                run_id,
            )
        if run_id in seen:
            logger.warning(
                "%s: run %s is already recorded in %s: counted once", path, run_id, seen[run_id]
            )
            continue
        seen[run_id] = path
        records.append(record)
    return records, problems


def recorded_runs(output_dir: Path) -> dict[str, dict[str, Any]]:
    """Every readable record in `output_dir`'s runs folder, by the id inside it."""
    folder = Path(output_dir) / RUNS_DIR
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            record = read_record(path)
        except DataError:
            continue
        out.setdefault(str(record["run_id"]), record)
    return out


def recorded_fingerprints(record: dict[str, Any]) -> dict[str, Any] | None:
    """The dataset fingerprints a record was made from (None: an older record without them)."""
    return (record.get("provenance") or {}).get("dataset_fingerprints") or None


def already_recorded(
    specs: Iterable[Any],
    output_dir: Path,
    rerun_failed: bool,
    data_changed: Callable[[Any, dict[str, Any]], bool],
) -> dict[str, str]:
    """The runs of `specs` not to run again, by id, with their recorded status: those with a
    readable record in `output_dir` that is `ok`, or `failed` unless `rerun_failed`. A record
    made from other data than the run's tasks hold today (`data_changed(spec, record)`, asked
    only of records that would be skipped) does not count. Shared by every executor."""
    recorded = recorded_runs(output_dir)
    skip: dict[str, str] = {}
    for spec in specs:
        record = recorded.get(spec.id)
        if record is None or (record["status"] == "failed" and rerun_failed):
            continue
        if data_changed(spec, record):
            continue  # recorded from other data: not already recorded
        skip[spec.id] = record["status"]
    return skip


@cache
def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


@cache
def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for lib in (
        "torch",
        "transformers",
        "datasets",
        "evaluate",
        "accelerate",
        "tokenizers",
        "numpy",
        "pandas",
    ):
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            pass
    return out


def device_info(accelerator: Any) -> dict[str, Any]:
    import torch

    info = {
        "device": str(accelerator.device),
        "num_processes": accelerator.num_processes,
        "mixed_precision": str(accelerator.mixed_precision),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(accelerator.device)
    return info


def provenance(
    accelerator: Any, fingerprints: dict[str, Any], seeds: dict[str, int]
) -> dict[str, Any]:
    return {
        "transferbench_version": __version__,
        "git_commit": git_commit(),
        "libraries": library_versions(),
        "device": device_info(accelerator),
        "dataset_fingerprints": fingerprints,
        "seeds": seeds,
    }


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
