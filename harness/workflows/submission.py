"""Leaderboard submissions: pack a suite run's records into one checksummed file and read it
back. Validation is in `submission_checks`, reruns in `submission_rerun`; their names are
importable from here too.

File format (`submission_schema_version` 1): one JSON object, gzip-compressed when the file
name ends in `.gz`:

- `submission_schema_version`: 1
- `name`, `created` (ISO time, UTC), `transferbench_version` (of the packer)
- `suite`: the resolved suite the runs were expanded from (`config.yaml` of `transferbench run`,
  without machine paths)
- `runs`: one `{"run_id", "sha256", "record"}` per run, sorted by run id; `record` is the run
  record as written (spec, scores, provenance); `sha256` is the digest of its canonical JSON
- `sha256`: the digest of the canonical JSON of the whole object without this key

Canonical JSON is `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
in UTF-8, so the digests do not depend on indentation or key order. Checksums detect damage
and edits made without recomputing them; they are not signatures (see docs/submissions.md).
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Any

import yaml

from harness import __version__
from harness.errors import ConfigError, DataError, TransferBenchError
from harness.records import RUNS_DIR, JSONTooDeep, now, parse_json, read_record, strict_record
from harness.taskregistry import TaskRegistry
from harness.workflows.submission_checks import (
    COVERS_REGISTERED,
    REQUIRED,
    SAME_AS_REGISTERED,
    Validation,
    expand_suite,
    validate,
)
from harness.workflows.submission_format import (
    SUBMISSION_SCHEMA_VERSION,
    SubmissionRejected,
    canonical_json,
    describe,
    grid_key,
    grid_key_of,
    sha256,
)
from harness.workflows.submission_rerun import (
    NOISE_FACTOR,
    RerunResult,
    choose_runs,
    current_environment,
    environment,
    rerun,
    seed_tolerance,
)

__all__ = [
    "COVERS_REGISTERED",
    "MACHINE_KEYS",
    "NOISE_FACTOR",
    "REQUIRED",
    "SAME_AS_REGISTERED",
    "SUBMISSION_SCHEMA_VERSION",
    "RerunResult",
    "SubmissionRejected",
    "Validation",
    "canonical_json",
    "choose_runs",
    "current_environment",
    "describe",
    "environment",
    "expand_suite",
    "grid_key",
    "load_and_validate",
    "pack",
    "read_submission",
    "rerun",
    "seal",
    "seed_tolerance",
    "sha256",
    "suite_definition",
    "validate",
    "write_submission",
]

MACHINE_KEYS = (
    "output_dir",
    "data_dir",
    "num_runs",
    "suite_file",
)  # config.yaml keys that are not the suite


def seal(doc: dict[str, Any]) -> dict[str, Any]:
    """Recompute every record's checksum and the whole file's (after building or editing)."""
    for entry in doc.get("runs", []):
        entry["run_id"] = entry["record"]["run_id"]
        entry["sha256"] = sha256(entry["record"])
    doc.pop("sha256", None)
    doc["sha256"] = sha256(doc)
    return doc


def suite_definition(config: dict[str, Any]) -> dict[str, Any]:
    """The suite part of a results folder's `config.yaml` (machine paths dropped)."""
    return {k: v for k, v in config.items() if k not in MACHINE_KEYS}


# ---------------------------------------------------------------------------------- pack


def pack(
    results: Path, name: str, registry: TaskRegistry | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The submission of a `transferbench run` output folder, checked as `validate` checks it.

    Returns (submission, notes). Raises `SubmissionRejected` listing every problem: a corrupt
    or failed record, a run of the suite without a record, and anything `validate` rejects."""
    results = Path(results)
    if not results.is_dir():
        raise DataError(f"--results {results}: no such results folder")
    config_path = results / "config.yaml"
    if not config_path.is_file():
        raise DataError(
            f"{config_path}: missing; --results must be an output folder of `transferbench run`"
        )
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{config_path}: does not read: {exc}") from exc
    if not isinstance(config, dict):
        raise DataError(f"{config_path}: expected a suite mapping")
    if not name or not name.strip():
        raise ConfigError("--name: a submission needs a non-empty name")
    registry = registry or TaskRegistry()
    suite = suite_definition(config)
    problems, notes, records = [], [], []
    for path in sorted((results / RUNS_DIR).glob("*.json")):
        if path.name.startswith("."):
            continue
        try:  # as a record is written today: strict JSON (an older record may hold NaN)
            records.append(strict_record(read_record(path)))
        except DataError as exc:
            problems.append(f"corrupt record: {exc}")
    wanted = None
    try:
        wanted = {grid_key(s) for s in expand_suite(suite, registry)}
    except (TransferBenchError, TypeError, ValueError, KeyError, AttributeError):
        pass  # validate names the problem
    if wanted is not None:
        outside = [r for r in records if grid_key_of(r) not in wanted]
        if outside:
            notes.append(
                f"left out {len(outside)} record(s) of runs that are not in the suite's expansion "
                f"(from an earlier configuration?): {', '.join(r['run_id'] for r in outside)}"
            )
            records = [r for r in records if grid_key_of(r) in wanted]
    doc = seal(
        {
            "submission_schema_version": SUBMISSION_SCHEMA_VERSION,
            "name": name.strip(),
            "created": now(),
            "transferbench_version": __version__,
            "suite": suite,
            "runs": [
                {"run_id": r["run_id"], "record": r}
                for r in sorted(records, key=lambda r: r["run_id"])
            ],
        }
    )
    problems += validate(doc, registry).problems
    if problems:
        raise SubmissionRejected(f"refusing to pack {results}", problems)
    return doc, notes


def write_submission(doc: dict[str, Any], path: Path) -> Path:
    """Write atomically; gzip when the name ends in `.gz`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # strict JSON, as records are
        data = json.dumps(doc, indent=1, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError as exc:
        raise DataError(
            f"{path}: not written: the submission holds a value that is not a finite number ({exc})"
        ) from exc
    data = data.encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------- read


def read_submission(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """(submission, problems). A path that cannot be read at all raises `DataError`; a file
    that is not a whole JSON object (truncated, malformed, bad gzip) is a problem."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a submission file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    if path.name.endswith(".gz") or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            return None, [f"malformed or truncated file: not a complete gzip stream ({exc})"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(raw):  # cut inside a character
            return None, ["truncated file: it ends inside a UTF-8 character"]
        return None, [f"malformed file: not UTF-8 text ({exc})"]
    try:
        doc = parse_json(text)
    except JSONTooDeep as exc:
        return None, [f"malformed file: {exc}"]
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        where = "truncated" if text.strip() and ends_early else "malformed"
        return None, [f"{where} file: not valid JSON ({exc})"]
    if not isinstance(doc, dict):
        return None, [f"malformed file: expected a JSON object, got {type(doc).__name__}"]
    return doc, []


def load_and_validate(
    path: Path, registry: TaskRegistry | None = None
) -> tuple[dict[str, Any] | None, Validation]:
    """Read and validate a file (unreadable paths raise `DataError`)."""
    doc, problems = read_submission(path)
    if doc is None:
        return None, Validation(problems=problems)
    return doc, validate(doc, registry)
