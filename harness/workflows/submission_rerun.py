"""Submission reruns: run a sample of a submission's runs again and compare each primary score
with the recorded one, exactly where the environment matches, else within the seed spread."""

from __future__ import annotations

import math
import random
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.records import RUNS_DIR, read_record
from harness.spec import RunSpec
from harness.taskregistry import TaskRegistry
from harness.workflows.submission_format import describe, grid_key

NOISE_FACTOR = 2 * math.sqrt(2)  # rerun tolerance: this many seed standard deviations


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
