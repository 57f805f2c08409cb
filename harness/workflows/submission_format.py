"""What every part of a submission shares: the schema version, canonical JSON and its digests,
the rejection error, and how a run is described and placed in a suite's grid (the file format
itself is described in `harness.workflows.submission`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.errors import TransferBenchError
from harness.spec import RunSpec, spec_of

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
    """A record's run as messages show it (`RunSpec.describe`); a spec that does not read is
    named so."""
    try:
        return spec_of(spec).describe(seed=seed)
    except (ValueError, KeyError, TypeError, AttributeError):
        d = spec if isinstance(spec, dict) else {}
        return f"an unreadable spec ({d.get('variant', '?')} -> {d.get('target', '?')})"


def grid_key(spec: RunSpec, seed: bool = True) -> str:
    """A run's cell in a suite's grid (`RunSpec.key` without task versions, and without its
    seed when `seed` is false). Task versions are checked separately, so a stale card is
    reported as a stale card, not as a missing run."""
    return spec.key(seed=seed, task_versions=False)


def grid_key_of(record: dict[str, Any]) -> str | None:
    """`grid_key` of a record's spec; None when the spec does not read."""
    try:
        return grid_key(spec_of(record["spec"]))
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
