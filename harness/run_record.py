"""The typed run record: what one run wrote (`runs/<run_id>.json`), built in one place.

The runner (and through it the Ray executor, whose workers run the same runner) makes every
record with `RunRecord.start`, then `scored` or `failed`, then `finish`; `to_dict` is what
`records.write_record` writes. `RunRecord.from_dict` reads one back, checked as
`records.read_record` checks it; fields a newer record adds are kept in `other`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from harness.errors import DataError
from harness.spec import RunSpec, spec_of

SCHEMA_VERSION = 1

SPEC_KEYS = {
    "backbone": dict,
    "method": str,
    "variant": str,
    "target": str,
    "seed": int,
    "fraction": (int, float),
}


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


# optional keys: written only when set, so records without them read as before
OPTIONAL = ("untrained_heads", "error", "traceback", "predictions", "non_finite")


@dataclass(kw_only=True)
class RunRecord:
    """One run's record; the field comments are the schema (see also `harness.records`)."""

    schema_version: int = SCHEMA_VERSION
    run_id: str  # the spec's content hash, also the file name
    status: str  # "ok" or "failed"
    spec: dict[str, Any]  # the RunSpec as a dict
    comparable: bool = True  # false under --limit: numbers that are not results
    # --- a scored run
    floor: dict[str, Any] | None = None  # the best constant predictor on the scored split
    target_card_version: str | None = None
    target_tags: list[str] | None = None
    metrics: dict[str, Any] | None = None  # every metric of the card on the scored split
    primary_metric: str | None = None
    direction: str | None = None  # "max" or "min"
    primary_score: float | None = None
    validation_metrics: dict[str, Any] | None = None  # the chosen epoch's
    best_epoch: int | None = None
    curve: list[dict[str, Any]] | None = None  # per-epoch loss and validation scores
    steps: int | None = None
    train_examples: int | None = None
    train_rows: int | None = None
    train_seconds: float | None = None
    throughput: float | None = None  # training examples a second
    extra: dict[str, Any] | None = None  # the method's own measurements
    source_history: list[dict[str, Any]] | None = None  # how each source encoder scored
    untrained_heads: dict[str, str] | None = None  # multi-task heads no better than a constant
    predictions: str | None = None  # the per-example predictions file beside the record
    # --- a failed run
    error: str | None = None
    traceback: str | None = None
    # --- every run
    wall_seconds: float | None = None
    peak_memory_mb: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None  # versions, device, data fingerprints, seeds
    created: str | None = None  # ISO time written
    non_finite: list[str] | None = None  # fields written as null (see `strict_record`)
    other: dict[str, Any] = field(default_factory=dict)  # keys of a newer schema, kept

    @classmethod
    def start(cls, spec: RunSpec) -> RunRecord:
        """The record of a run about to start (status ok until it fails)."""
        return cls(run_id=spec.id, status="ok", spec=spec.to_dict(), comparable=spec.limit is None)

    def scored(self, **results: Any) -> None:
        """Fill in a finished run's results (any of the scored-run fields)."""
        for key, value in results.items():
            if key not in SCORED_FIELDS:
                raise TypeError(f"RunRecord.scored: unknown field '{key}'")
            setattr(self, key, value)

    def fail(self, error: str, traceback: str) -> None:
        self.status, self.error, self.traceback = "failed", error, traceback

    @property
    def run_spec(self) -> RunSpec:
        return spec_of(self.spec)

    def to_dict(self) -> dict[str, Any]:
        """The record as written: set fields in schema order, optional ones only when set."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            unset = value is None and (
                f.name in OPTIONAL or (f.name in SCORED_FIELDS and self.status != "ok")
            )
            if f.name == "other" or unset:
                continue
            out[f.name] = value
        out.update(self.other)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> RunRecord:
        """A record read back, checked (`DataError` naming `where` and what is wrong)."""
        problem = record_problem(data)
        if problem:
            raise DataError(f"{where}: not a valid run record: {problem}")
        names = {f.name for f in fields(cls)} - {"other"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, other={k: v for k, v in data.items() if k not in names})


SCORED_FIELDS = {
    f.name
    for f in fields(RunRecord)
    if f.name
    not in (
        "run_id",
        "status",
        "spec",
        "comparable",
        "schema_version",
        "error",
        "traceback",
        "wall_seconds",
        "peak_memory_mb",
        "provenance",
        "created",
        "non_finite",
        "other",
    )
}  # a failed run's record leaves them out
