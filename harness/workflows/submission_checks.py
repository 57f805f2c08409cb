"""Submission validation: every problem of a submission against this checkout's registry
(shape, checksums, task versions, the suite's grid and a registered suite's protocol)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness.errors import TransferBenchError
from harness.records import record_problem
from harness.spec import RunSpec
from harness.taskregistry import TaskRegistry
from harness.workflows.submission_format import (
    SUBMISSION_SCHEMA_VERSION,
    describe,
    grid_key,
    grid_key_of,
    sha256,
)

REQUIRED = {
    "name": str,
    "created": str,
    "transferbench_version": str,
    "suite": dict,
    "runs": list,
    "sha256": str,
}
# protocol fields a submission to a registered suite must keep as the registered suite has them
SAME_AS_REGISTERED = ("limit", "max_train_samples", "max_eval_samples", "max_test_samples")
COVERS_REGISTERED = ("seeds", "targets", "fractions")  # ... and must include all of


@dataclass
class Validation:
    """What `validate` found: every problem (empty when valid) and the readable records."""

    problems: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    specs: list[RunSpec] = field(default_factory=list)  # the submitted suite's expansion
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def expand_suite(
    suite: dict[str, Any], registry: TaskRegistry, where: str = "submitted suite"
) -> list[RunSpec]:
    from harness.suites import expand, resolve_suite

    return expand(resolve_suite(dict(suite), {}, where), registry, where)


def validate(doc: dict[str, Any], registry: TaskRegistry | None = None) -> Validation:
    """Check a submission; every problem is listed (see docs/submissions.md for the list)."""
    out = Validation()
    p = out.problems
    version = doc.get("submission_schema_version")
    if version is None:
        p.append("no 'submission_schema_version': not a TransferBench submission")
        return out
    if version != SUBMISSION_SCHEMA_VERSION or isinstance(version, bool):
        p.append(
            f"wrong schema version: submission_schema_version {version!r}; this TransferBench reads "
            f"version {SUBMISSION_SCHEMA_VERSION}"
        )
        return out
    for key, kind in REQUIRED.items():
        if not isinstance(doc.get(key), kind) or (kind is str and not doc[key]):
            p.append(f"field '{key}': missing or not a {kind.__name__}")
    if isinstance(doc.get("sha256"), str):
        body = {k: v for k, v in doc.items() if k != "sha256"}
        if sha256(body) != doc["sha256"]:
            p.append(
                "the file's checksum (sha256) does not match its content: edited or damaged after packing"
            )
    registry = registry or TaskRegistry()
    runs = doc.get("runs") if isinstance(doc.get("runs"), list) else []
    records = _check_records(runs, p)
    out.records = records
    _check_task_versions(records, registry, p)
    suite = doc.get("suite")
    if isinstance(suite, dict):
        out.specs = _check_grid(suite, records, registry, p)
        _check_registered(suite, registry, p)
    if not p:
        out.summary = _summary(doc, records)
    return out


def _check_records(runs: list[Any], p: list[str]) -> list[dict[str, Any]]:
    """Each run entry: shape, checksum, id against spec, status, --limit. Returns the records
    that read (whatever else is wrong with them)."""
    records, seen = [], Counter()
    for i, entry in enumerate(runs):
        if not isinstance(entry, dict) or not isinstance(entry.get("record"), dict):
            p.append(f"runs[{i}]: expected {{run_id, sha256, record}}")
            continue
        record = entry["record"]
        rid = record.get("run_id", entry.get("run_id", f"runs[{i}]"))
        problem = record_problem(record)
        if problem:
            p.append(f"run {rid}: not a valid run record: {problem}")
            continue
        seen[rid] += 1
        if entry.get("run_id") != rid:
            p.append(f"run {rid}: listed as {entry.get('run_id')!r}")
        if entry.get("sha256") != sha256(record):
            p.append(
                f"run {rid} ({describe(record['spec'])}): record checksum fails: edited or damaged"
            )
        try:
            spec = RunSpec.from_dict(record["spec"])
            if spec.id != rid:
                p.append(
                    f"run {rid}: its id does not match its spec (the spec reads as run {spec.id}): "
                    "spec edited after the run"
                )
        except (TypeError, ValueError) as exc:
            p.append(f"run {rid}: spec does not read: {exc}")
            continue
        if record["status"] != "ok":
            p.append(f"run {rid} ({describe(record['spec'])}) failed: {record.get('error', '?')}")
        if record["spec"].get("limit") is not None or record.get("comparable") is False:
            p.append(
                f"run {rid} ({describe(record['spec'])}) was made with --limit "
                f"{record['spec'].get('limit')}: not comparable"
            )
        records.append(record)
    for rid, n in seen.items():
        if n > 1:
            p.append(f"run {rid}: listed {n} times")
    return records


def _check_task_versions(
    records: list[dict[str, Any]], registry: TaskRegistry, p: list[str]
) -> None:
    """Each task a run used (its spec's `task_versions`, card content hashes) against the
    registry's card now; one problem per task and recorded version."""
    stale: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        versions = r["spec"].get("task_versions")
        if not isinstance(versions, dict) or not versions:
            p.append(f"run {r['run_id']}: its spec has no task versions (task_versions)")
            continue
        for task, version in versions.items():
            card = registry.cards.get(task)
            current = card.content_hash if card is not None else None
            if version != current:
                stale[(task, str(version))].append(r["run_id"])
    for (task, version), ids in sorted(stale.items()):
        card = registry.cards.get(task)
        now_ = (
            f"the registry's card is version {card.content_hash}"
            if card
            else "the registry has no such task"
        )
        p.append(
            f"task version differs: '{task}' was version {version} in {len(ids)} run(s) "
            f"({', '.join(ids[:3])}{', …' if len(ids) > 3 else ''}); {now_}"
        )


def _check_grid(
    suite: dict[str, Any], records: list[dict[str, Any]], registry: TaskRegistry, p: list[str]
) -> list[RunSpec]:
    """The submitted suite's expansion against the records: missing runs, runs outside it, and
    groups with fewer seeds than the suite asks."""
    try:
        specs = expand_suite(suite, registry)
    except (TransferBenchError, TypeError, ValueError, KeyError, AttributeError) as exc:
        p.append(f"the submitted suite does not expand with this registry: {exc}")
        return []
    have = {}
    for r in records:
        key = grid_key_of(r)
        if key is not None:
            have[key] = r
    wanted = {grid_key(s): s for s in specs}
    for key, spec in wanted.items():
        if key not in have:
            p.append(
                f"missing run {spec.id} ({describe(spec.to_dict())}): in the suite, not in the submission"
            )
    for key, r in have.items():
        if key not in wanted:
            p.append(
                f"run {r['run_id']} ({describe(r['spec'])}) is not a run of the submitted suite"
            )
    asked = sorted({s.seed for s in specs})
    groups: dict[str, tuple[RunSpec, set[int]]] = {}
    for key, spec in wanted.items():
        g = groups.setdefault(grid_key(spec, seed=False), (spec, set()))
        if key in have:
            g[1].add(spec.seed)
    for spec, seeds in groups.values():
        if len(seeds) < len(asked):
            p.append(
                f"seeds fewer than the suite asks: {describe(spec.to_dict(), seed=False)} has seeds "
                f"{sorted(seeds)} of {asked}"
            )
    return specs


def _check_registered(suite: dict[str, Any], registry: TaskRegistry, p: list[str]) -> None:
    """A submission to a registered suite (`tasks/suites/<name>.yaml`) keeps its protocol: all
    its seeds, targets and fractions, and the same `--limit` and sample caps."""
    from harness.suites import load_suite, resolve_suite, suite_files

    name = suite.get("name")
    if not isinstance(name, str) or name not in suite_files():
        return
    try:
        data, where = load_suite(name)
        registered = resolve_suite(data, {}, where)
    except TransferBenchError as exc:
        p.append(
            f"the registered suite '{name}' does not read, so the submission cannot be compared with it: {exc}"
        )
        return
    for key in COVERS_REGISTERED:
        want, got = _as_set(registered.get(key)), _as_set(suite.get(key))
        lacking = sorted(want - got, key=str)
        if lacking:
            what = (
                "seeds fewer than the registered suite asks" if key == "seeds" else f"{key} missing"
            )
            p.append(
                f"{what}: the registered suite '{name}' has {key} {sorted(want, key=str)}; the submission's "
                f"suite has {sorted(got, key=str)} (lacks {lacking})"
            )
    for key in SAME_AS_REGISTERED:
        if registered.get(key) != suite.get(key):
            p.append(
                f"field '{key}' differs from the registered suite '{name}': {suite.get(key)!r} instead of "
                f"{registered.get(key)!r}"
            )


def _as_set(value: Any) -> set:
    """A suite list field as a set: numbers compare as numbers (1 == 1.0 == "1"), names as text."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    out = set()
    for v in value if isinstance(value, list) else [value] if value is not None else []:
        try:
            x = float(v)
            out.add(int(x) if x.is_integer() else x)
        except (TypeError, ValueError):
            out.add(str(v))
    return out


def _summary(doc: dict[str, Any], records: list[dict[str, Any]]) -> str:
    specs = [r["spec"] for r in records]
    variants = sorted({s["variant"] for s in specs})
    targets = sorted({s["target"] for s in specs})
    seeds = sorted({s["seed"] for s in specs})
    return (
        f"valid: submission '{doc['name']}' (suite '{doc['suite'].get('name', '?')}'): {len(records)} run(s), "
        f"methods {', '.join(variants)}; targets {', '.join(targets)}; seeds {', '.join(map(str, seeds))}; "
        f"packed {doc['created']} with transferbench {doc['transferbench_version']}"
    )
