"""Leaderboard submissions: pack a suite run's records into one checksummed file, read it back,
validate it against this checkout's registry, and re-run a sample of its runs.

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

import dataclasses
import gzip
import hashlib
import json
import math
import os
import random
import statistics
import tempfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import __version__
from harness.errors import ConfigError, DataError, TransferBenchError
from harness.records import (
    RUNS_DIR,
    JSONTooDeep,
    now,
    parse_json,
    read_record,
    record_problem,
    strict_record,
)
from harness.spec import RunSpec
from harness.taskregistry import TaskRegistry

SUBMISSION_SCHEMA_VERSION = 1
REQUIRED = {
    "name": str,
    "created": str,
    "transferbench_version": str,
    "suite": dict,
    "runs": list,
    "sha256": str,
}
MACHINE_KEYS = ("output_dir", "data_dir", "num_runs")  # config.yaml keys that are not the suite
NOISE_FACTOR = 2 * math.sqrt(2)  # rerun tolerance: this many seed standard deviations
# protocol fields a submission to a registered suite must keep as the registered suite has them
SAME_AS_REGISTERED = ("limit", "max_train_samples", "max_eval_samples", "max_test_samples")
COVERS_REGISTERED = ("seeds", "targets", "fractions")  # ... and must include all of


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
        outside = [r for r in records if _grid_key_of(r) not in wanted]
        if outside:
            notes.append(
                f"left out {len(outside)} record(s) of runs that are not in the suite's expansion "
                f"(from an earlier configuration?): {', '.join(r['run_id'] for r in outside)}"
            )
            records = [r for r in records if _grid_key_of(r) in wanted]
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


def _grid_key_of(record: dict[str, Any]) -> str | None:
    try:
        return grid_key(RunSpec.from_dict(record["spec"]))
    except (TypeError, KeyError, ValueError):
        return None


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


# ---------------------------------------------------------------------------------- validate


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
        key = _grid_key_of(r)
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


def load_and_validate(
    path: Path, registry: TaskRegistry | None = None
) -> tuple[dict[str, Any] | None, Validation]:
    """Read and validate a file (unreadable paths raise `DataError`)."""
    doc, problems = read_submission(path)
    if doc is None:
        return None, Validation(problems=problems)
    return doc, validate(doc, registry)


# ---------------------------------------------------------------------------------- rerun


@dataclass
class RerunResult:
    run_id: str
    spec: dict[str, Any]
    recorded: float
    rerun: float | None
    exact: bool  # the environment matches the record's: the score must be identical
    tolerance: float | None  # otherwise |rerun − recorded| must be at most this
    error: str | None = None

    @property
    def ok(self) -> bool:
        if self.rerun is None:
            return False
        if self.exact or self.tolerance is None:
            return self.rerun == self.recorded
        return abs(self.rerun - self.recorded) <= self.tolerance

    def message(self) -> str:
        head = f"run {self.run_id} ({describe(self.spec)})"
        if self.rerun is None:
            return f"{head}: the rerun failed: {self.error}"
        if self.exact:
            rule = "exact match expected (same device type, torch, transformers, processes, precision, threads)"
        elif self.tolerance is None:
            rule = "no seed spread to set a tolerance (one seed, or all seeds equal), so exact match expected"
        else:
            rule = f"tolerance ±{self.tolerance:.4g} from the seed spread of its group"
        verdict = "reproduced" if self.ok else "does not reproduce"
        return f"{head} {verdict}: recorded {self.recorded!r}, rerun {self.rerun!r}; {rule}"


def environment(record: dict[str, Any]) -> dict[str, Any]:
    """What must match for a rerun to give the identical score: device type, torch and
    transformers versions, process count, mixed precision and (on CPU) the torch thread count
    (a reduction split over another number of threads can round differently)."""
    prov = record.get("provenance") or {}
    dev = prov.get("device") or {}
    libs = prov.get("libraries") or {}
    kind = str(dev.get("device", "")).split(":")[0]
    return {
        "device_type": kind,
        "torch": libs.get("torch"),
        "transformers": libs.get("transformers"),
        "num_processes": dev.get("num_processes"),
        "mixed_precision": str(dev.get("mixed_precision")),
        "torch_threads": dev.get("torch_threads") if kind == "cpu" else None,
    }


def current_environment(accelerator: Any) -> dict[str, Any]:
    from harness.records import device_info, library_versions

    return environment(
        {"provenance": {"device": device_info(accelerator), "libraries": library_versions()}}
    )


def seed_tolerance(records: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per run id, the rerun tolerance where the environment differs: 2·√2·s, two standard
    deviations of the difference between two independent seeds, where s is the standard
    deviation over seeds of the run's group (its spec but the seed) in the submission itself,
    *leaving the run out*, so an edited score cannot widen its own tolerance. When fewer than
    two other seeds remain (or they all scored the same), s is the median spread of the other
    groups on the same target and metric, else of all other groups; None (exact) when there
    is none."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("status") == "ok":
            groups[grid_key(RunSpec.from_dict(r["spec"]), seed=False)].append(r)

    def spread(rs: list[dict[str, Any]]) -> float:
        return statistics.stdev(float(r["primary_score"]) for r in rs) if len(rs) > 1 else 0.0

    full = {k: spread(g) for k, g in groups.items()}
    where = {k: (g[0]["spec"]["target"], g[0]["primary_metric"]) for k, g in groups.items()}
    out: dict[str, float | None] = {}
    for k, g in groups.items():
        near = [full[o] for o in groups if o != k and where[o] == where[k] and full[o] > 0]
        anywhere = [full[o] for o in groups if o != k and full[o] > 0]
        for r in g:
            s = spread([x for x in g if x is not r])
            if s <= 0:
                s = statistics.median(near or anywhere) if (near or anywhere) else 0.0
            out[r["run_id"]] = NOISE_FACTOR * s if s > 0 else None
    return out


def choose_runs(records: list[dict[str, Any]], k: int, seed: int = 0) -> list[dict[str, Any]]:
    """`k` records drawn without replacement by `random.Random(seed)` from those sorted by run id
    (all of them when `k` is at least their number)."""
    if k < 1:
        raise ConfigError(f"--rerun {k}: expected a number of runs >= 1")
    ordered = sorted(records, key=lambda r: r["run_id"])
    return random.Random(seed).sample(ordered, min(k, len(ordered)))


def rerun(
    doc: dict[str, Any],
    k: int,
    seed: int = 0,
    *,
    registry: TaskRegistry | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    workdir: Path | None = None,
) -> list[RerunResult]:
    """Run `k` of the submission's runs again (chosen with `random.Random(seed)`), in a temporary
    folder with `SuiteRunner`, and compare each primary score with the recorded one: exactly
    when `environment` matches the record's, else within `seed_tolerance`. Every spec of the
    submission is registered with the runner first, so a preset's tokenizer is built from the
    same tasks as in the original suite run."""
    from harness.runner import SuiteRunner

    records = [e["record"] for e in doc["runs"] if e["record"].get("status") == "ok"]
    chosen = choose_runs(records, k, seed)
    tolerance = seed_tolerance(records)
    precision = Counter(
        str((r.get("provenance") or {}).get("device", {}).get("mixed_precision", "no"))
        for r in chosen
    ).most_common(1)[0][0]
    with tempfile.TemporaryDirectory(prefix="tb-rerun-", dir=workdir) as tmp:
        runner = SuiteRunner(
            Path(tmp),
            data_dir=data_dir,
            cache_dir=cache_dir,
            registry=registry,
            mixed_precision=precision if precision in ("no", "fp16", "bf16") else "no",
        )
        for r in records:
            s = r["spec"]
            runner.register_corpus(
                s["backbone"], [s["target"], *s.get("sources", []), *s.get("task_set", [])]
            )
        here = current_environment(runner.accelerator)
        runner.run([RunSpec.from_dict(r["spec"]) for r in chosen])
        results = []
        for r in chosen:
            path = Path(tmp) / RUNS_DIR / f"{r['run_id']}.json"
            new = (
                read_record(path)
                if path.exists()
                else {"status": "failed", "error": "no record written"}
            )
            ok = new.get("status") == "ok"
            results.append(
                RerunResult(
                    run_id=r["run_id"],
                    spec=r["spec"],
                    recorded=float(r["primary_score"]),
                    rerun=float(new["primary_score"]) if ok else None,
                    exact=environment(r) == here,
                    tolerance=tolerance.get(r["run_id"]),
                    error=None if ok else new.get("error"),
                )
            )
    return results
