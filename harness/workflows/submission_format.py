"""What every part of a submission shares: the schema version, canonical JSON and its digests,
the rejection error, and how a run is described and placed in a suite's grid (the file format
itself is described in `harness.workflows.submission`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from harness.errors import TransferBenchError
from harness.spec import RunSpec

SUBMISSION_SCHEMA_VERSION = 1


class SubmissionRejected(TransferBenchError):
    """A submission (or a folder to pack) with problems; the message lists every one."""

    exit_code = 1

    def __init__(self, what: str, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"{what}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
        )


def canonical_json(obj: Any) -> bytes:
    """The bytes every checksum is taken of: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def sha256(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def describe(spec: dict[str, Any], seed: bool = True) -> str:
    """`variant, source → target, frac f, seed s` for messages."""
    via = (
        "{" + ",".join(spec.get("task_set") or []) + "}"
        if spec.get("task_set")
        else ("+".join(spec.get("sources") or []) or "none")
    )
    text = f"{spec.get('variant')}, {via} → {spec.get('target')}, frac {float(spec.get('fraction', 0)):g}"
    return text + (f", seed {spec.get('seed')}" if seed else "")


def grid_key(spec: RunSpec, seed: bool = True) -> str:
    """A run's place in a suite's grid: its spec without task versions (and without its seed
    when `seed` is false). Task versions are checked separately, so a stale card is reported
    as a stale card, not as a missing run."""
    spec = dataclasses.replace(spec, task_versions={})
    return (spec if seed else dataclasses.replace(spec, seed=0)).id


def grid_key_of(record: dict[str, Any]) -> str | None:
    """`grid_key` of a record's spec; None when the spec does not read."""
    try:
        return grid_key(RunSpec.from_dict(record["spec"]))
    except (TypeError, KeyError, ValueError):
        return None
