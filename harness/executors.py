"""Running a suite on more than one process or machine.

- `--shard i/N` (i = 0 … N-1): the suite's runs sorted by id and dealt out in turn, so N
  processes or machines given the same suite run each run exactly once. They may share one
  results folder (each record is its own file, written atomically) and one cache (entries are
  computed under a file lock: a source encoder is trained by the first shard that needs it and
  loaded by the others).
- `--executor ray`: every run is a Ray task (`ray_cpus_per_run` CPUs, `ray_gpus_per_run` GPUs),
  on the cluster at `--ray_address` or a local Ray instance. Workers need the results and
  cache folders on a shared filesystem; Accelerate still runs inside each task. Sources are
  trained once across the cluster by the same cache lock.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.shards import parse_shard, preparation_order, shard_specs  # noqa: F401 - re-exported
from harness.spec import RunSpec

RAY_CONNECT_TIMEOUT_S = 5.0  # a Ray head that does not answer a TCP connect in this is unreachable
RAY_DEFAULT_PORT = 6379  # the GCS port of `ray start --head` (10001 for a ray:// client address)


@dataclass
class RunnerSettings:
    """What a worker needs to build its own `SuiteRunner` like the driver's."""

    output_dir: str
    cache_dir: str | None = None
    data_dir: str | None = None
    include_paths: list[str] = field(default_factory=list)
    plugin_files: list[str] = field(default_factory=list)
    mixed_precision: str = "no"
    rerun_failed: bool = False
    corpus: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)  # per backbone
    shard: str | None = None


_worker_runner: dict[str, Any] = {}  # one runner per worker process and settings


def _runner_for(settings: RunnerSettings) -> Any:
    """This worker's runner for `settings` (built once); its data folder is `settings.data_dir`
    (the worker process's `$TRANSFERBENCH_DATA_DIR`, which backbones read, is set by the Ray
    task's `runtime_env`: `worker_runtime_env`)."""
    from harness.plugins import load_method_file
    from harness.runner import SuiteRunner

    key = repr(settings)
    if key not in _worker_runner:
        for file in settings.plugin_files:
            load_method_file(file)
        runner = SuiteRunner(
            Path(settings.output_dir),
            data_dir=settings.data_dir,
            include_paths=settings.include_paths,
            cache_dir=Path(settings.cache_dir) if settings.cache_dir else None,
            mixed_precision=settings.mixed_precision,
            rerun_failed=settings.rerun_failed,
        )
        for backbone, tasks in settings.corpus:  # a preset's tokenizer sees the whole suite's tasks
            runner.register_corpus(backbone, tasks)
        runner.placement = {
            "executor": "ray",
            **({"shard": settings.shard} if settings.shard else {}),
        }
        _worker_runner[key] = runner
    return _worker_runner[key]


def run_one_remote(spec: dict[str, Any], settings: RunnerSettings) -> dict[str, Any]:
    """A Ray task: one run (its preparation included) in this worker's runner."""
    runner = _runner_for(settings)
    runner.cache.counts.clear()
    outcome = runner.run([RunSpec.from_dict(spec)])
    status = "ok" if outcome.ran else ("skipped" if outcome.skipped else "failed")
    import os

    return {
        "run_id": RunSpec.from_dict(spec).id,
        "status": status,
        "pid": os.getpid(),
        "cache_counts": dict(runner.cache.counts),
        "prepare_seconds": outcome.prepare_seconds,
    }


def ray_endpoint(address: str, flag: str = "--ray_address") -> tuple[str, int] | None:
    """(host, port) a `--ray_address` connects to, or None for `auto`/`local` (Ray finds or
    starts the cluster itself). `host:port`, `ray://host:port`, `[v6]:port`; no port: Ray's."""
    address = address.strip()
    if address in ("", "auto", "local"):
        return None
    client = address.startswith("ray://")
    rest = address.split("://", 1)[1] if "://" in address else address
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):  # [IPv6]:port
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else tail
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    else:  # no port (or a bare IPv6 address)
        host, port = rest, ""
    if not host:
        raise ConfigError(
            f"{flag} {address!r}: expected host:port (e.g. 10.0.0.5:6379), ray://host:port or auto"
        )
    try:
        number = int(port) if port else (10001 if client else RAY_DEFAULT_PORT)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise ConfigError(f"{flag} {address}: port {port!r} is not a port number (1-65535)")
    return host, number


def check_reachable(
    address: str, timeout: float = RAY_CONNECT_TIMEOUT_S, flag: str = "--ray_address"
) -> None:
    """A ConfigError naming `flag` and the address when nothing answers there within `timeout`
    seconds (Ray itself would retry for minutes, saying nothing)."""
    endpoint = ray_endpoint(address, flag)
    if endpoint is None:
        return
    try:
        with socket.create_connection(endpoint, timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise ConfigError(
            f"{flag} {address}: cannot resolve host {endpoint[0]!r} ({exc.strerror or exc})"
        ) from exc
    except OSError as exc:  # refused, timed out, no route
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConfigError(
            f"{flag} {address}: no Ray cluster answers at {endpoint[0]}:{endpoint[1]} "
            f"({why} within {timeout:g} s); start one with `ray start --head` or check "
            "the address"
        ) from exc


def check_resources(
    resources: dict[str, float], cpus_per_run: float, gpus_per_run: float, where: str
) -> None:
    """A ConfigError naming the option when the cluster as a whole has fewer CPUs or GPUs than
    one run asks for: Ray would queue the tasks forever without a word."""
    have = (
        ", ".join(
            f"{k} {v:g}"
            for k, v in sorted(resources.items())
            if k in ("CPU", "GPU") or k.startswith("accelerator_type")
        )
        or "none"
    )
    for flag, kind, want in (
        ("--ray_cpus_per_run", "CPU", cpus_per_run),
        ("--ray_gpus_per_run", "GPU", gpus_per_run),
    ):
        if want > resources.get(kind, 0.0):
            raise ConfigError(
                f"{flag} {want:g}: {where} has {resources.get(kind, 0.0):g} {kind}(s) in all "
                f"({have}), so no run could ever be scheduled; ask for at most "
                f"{resources.get(kind, 0.0):g} or add nodes with {kind}s"
            )


def suite_corpus(specs: list[RunSpec]) -> list[tuple[dict[str, Any], list[str]]]:
    corpus: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for s in specs:
        key = repr(sorted(s.backbone.items()))
        corpus.setdefault(key, (s.backbone, set()))[1].update([s.target, *s.sources, *s.task_set])
    return [(bb, sorted(tasks)) for bb, tasks in corpus.values()]


def worker_runtime_env(settings: RunnerSettings) -> dict[str, Any]:
    """The Ray task options that give a worker process the data folder as
    `$TRANSFERBENCH_DATA_DIR` (backbones find weights under it, e.g. `models/all-MiniLM-L6-v2`);
    none without a data folder."""
    if not settings.data_dir:
        return {}
    return {"runtime_env": {"env_vars": {"TRANSFERBENCH_DATA_DIR": settings.data_dir}}}


def run_with_ray(
    specs: list[RunSpec],
    settings: RunnerSettings,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    num_cpus: int | None = None,
    runner: Any = None,
) -> Any:
    """Run `specs` as Ray tasks; returns a `SuiteOutcome` (cache counts summed over tasks).

    Runs already recorded are skipped as the local runner skips them (`records.already_recorded`
    with the runner's `data_changed`: `runner`, or one built here from `settings` when some run
    has a record). An unreachable `address`, and a cluster with fewer CPUs or GPUs than one run
    asks for, are ConfigErrors naming the option."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--executor ray needs Ray: pip install 'transferbench[ray]'") from exc
    from harness.records import already_recorded
    from harness.runner import SuiteOutcome

    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise ConfigError(
            f"--ray_cpus_per_run must be > 0 and --ray_gpus_per_run >= 0, got "
            f"{cpus_per_run} and {gpus_per_run}"
        )
    started_here = not ray.is_initialized()
    if started_here and address:  # before anything slow: seconds, not minutes of Ray retrying
        check_reachable(address)
    elif started_here and os.environ.get("RAY_ADDRESS"):  # what ray.init joins without an address
        check_reachable(os.environ["RAY_ADDRESS"], flag="RAY_ADDRESS (set in the environment)")
    settings.corpus = suite_corpus(specs)

    def data_changed(spec: RunSpec, record: dict[str, Any]) -> bool:
        return (runner or _runner_for(settings)).data_changed(spec, record)

    skip = already_recorded(specs, Path(settings.output_dir), settings.rerun_failed, data_changed)
    outcome = SuiteOutcome()
    todo = []
    for spec in specs:
        if spec.id in skip:
            outcome.skipped.append(spec.id)
            if skip[spec.id] == "failed":
                outcome.failed_before.append(spec.id)
        else:
            todo.append(spec)
    if started_here:
        try:
            ray.init(
                address=address,
                num_cpus=num_cpus if not address else None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, TimeoutError) as exc:
            raise ConfigError(
                f"--ray_address {address}: cannot connect to a Ray cluster: {exc}"
            ) from exc
    try:
        joined = address or (os.environ.get("RAY_ADDRESS") if started_here else None)
        where = (
            f"the Ray cluster at {joined}"
            if joined
            else "the local Ray instance"
            if started_here
            else "the Ray cluster"
        )
        check_resources(ray.cluster_resources(), cpus_per_run, gpus_per_run, where)
        remote = ray.remote(
            num_cpus=cpus_per_run, num_gpus=gpus_per_run, **worker_runtime_env(settings)
        )(run_one_remote)
        results = ray.get([remote.remote(s.to_dict(), settings) for s in todo])
    finally:
        if started_here:
            ray.shutdown()
    counts: Counter = Counter()
    for res in results:
        counts.update(res["cache_counts"])
        outcome.prepare_seconds += res["prepare_seconds"]
        {"ok": outcome.ran, "failed": outcome.failed}.get(res["status"], outcome.skipped).append(
            res["run_id"]
        )
    outcome.cache_counts = counts
    outcome.workers = sorted({r["pid"] for r in results})
    return outcome
