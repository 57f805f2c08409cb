"""Run records: one versioned JSON file per run, written atomically, read back with checks.

Schema (version 1), one key each:
- `schema_version`: int, this schema's version
- `run_id`: the spec's content hash (also the file name)
- `status`: "ok" or "failed"; `error`: the reason a failed run failed
- `spec`: the RunSpec as a dict
- `comparable`: false when `--limit` capped the data (numbers are not real results)
- `metrics`: every metric of the target card on its scored split; `primary_metric`, `primary_score`
- `validation_metrics`: best epoch's validation scores; `best_epoch`; `curve`: per-epoch loss and score
- `wall_seconds`, `train_seconds`, `throughput` (training examples/s), `peak_memory_mb`
- `extra`: method-specific measurements; `source_history`: how the source encoder scored
- `provenance`: transferbench version, git commit, library versions, device, dataset fingerprints, seeds
- `created`: ISO time the record was written
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import DataError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RUNS_DIR = "runs"


def record_path(output_dir: Path, run_id: str) -> Path:
    return Path(output_dir) / RUNS_DIR / f"{run_id}.json"


def write_record(record: dict[str, Any], output_dir: Path) -> Path:
    """Write atomically (temp file + rename): a reader never sees half a record."""
    path = record_path(output_dir, record["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # a record that does not read is kept aside, never overwritten unseen
        try:
            read_record(path)
        except DataError:
            path.replace(path.with_name(f"{path.name}.corrupt-{dt.datetime.now():%Y%m%d%H%M%S}"))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=str))
    os.replace(tmp, path)
    return path


SPEC_KEYS = {
    "backbone": dict,
    "method": str,
    "variant": str,
    "target": str,
    "seed": int,
    "fraction": (int, float),
}


def read_record(path: Path) -> dict[str, Any]:
    """A record, checked: any file that is not one raises a DataError naming the file and why."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: corrupt run record: {exc}") from exc
    problem = record_problem(record)
    if problem:
        raise DataError(f"{path}: not a valid run record: {problem}")
    return record


def record_problem(record: Any) -> str | None:
    """What makes `record` not a run record of this schema, or None."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    missing = [k for k in ("schema_version", "run_id", "status", "spec") if k not in record]
    if missing:
        return f"missing {missing}"
    version = record["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"schema_version must be a whole number >= 1, got {version!r}"
    if version > SCHEMA_VERSION:
        return f"record schema {version} is newer than this TransferBench ({SCHEMA_VERSION})"
    if not isinstance(record["run_id"], str) or not record["run_id"]:
        return f"run_id must be a string, got {record['run_id']!r}"
    if record["status"] not in ("ok", "failed"):
        return f"status must be 'ok' or 'failed', got {record['status']!r}"
    spec = record["spec"]
    if not isinstance(spec, dict):
        return f"spec must be an object, got {type(spec).__name__}"
    for key, kind in SPEC_KEYS.items():
        if not isinstance(spec.get(key), kind) or isinstance(spec.get(key), bool):
            return f"spec.{key} is missing or not a {getattr(kind, '__name__', 'number')}"
    if not isinstance(spec["backbone"].get("name"), str):
        return "spec.backbone.name is missing"
    if record["status"] == "ok":
        score = record.get("primary_score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or score != score:
            return f"primary_score must be a number, got {score!r}"
        if not isinstance(record.get("primary_metric"), str):
            return "primary_metric is missing"
    return None


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
            logger.warning("%s: the record inside is run %s; its file name should be %s.json", path, run_id,
                           run_id)  # fmt: skip
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


def existing_status(output_dir: Path, run_id: str) -> str | None:
    """The status of an existing readable record, or None when there is none (or it is corrupt)."""
    path = record_path(output_dir, run_id)
    if not path.exists():
        return None
    try:
        return read_record(path)["status"]
    except DataError:
        return None


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

    info = {"device": str(accelerator.device), "num_processes": accelerator.num_processes,
            "mixed_precision": str(accelerator.mixed_precision), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}  # fmt: skip
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(accelerator.device)
    return info


def provenance(
    accelerator: Any, fingerprints: dict[str, Any], seeds: dict[str, int]
) -> dict[str, Any]:
    return {"transferbench_version": __version__, "git_commit": git_commit(), "libraries": library_versions(),
            "device": device_info(accelerator), "dataset_fingerprints": fingerprints, "seeds": seeds}  # fmt: skip


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
