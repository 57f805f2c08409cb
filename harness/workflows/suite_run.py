"""Running a suite as `transferbench run` does (`plan_suite`, then `run_suite`): its runs, the
config it records, the similarity step, the leaderboard and the report page."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.folders import writable_folder

logger = logging.getLogger("harness.commands")
Echo = Callable[[str], None]
BUDGET_FLAGS = {  # the training budget fields a run may override, and their types
    "num_train_epochs": float,
    "max_steps": int,
    "per_device_train_batch_size": int,
    "learning_rate": float,
    "weight_decay": float,
    "warmup_ratio": float,
    "gradient_accumulation_steps": int,
    "lr_scheduler_type": str,
}


@dataclass
class RunOptions:
    """What `transferbench run` is asked: the suite, its overrides and where things go.
    The overrides (comma-separated strings, as on the command line) replace the suite's."""

    suite: str | None = None
    config: str | None = None  # a suite YAML file
    backbones: str | None = None
    sources: str | None = None
    targets: str | None = None
    methods: str | None = None
    fractions: str | None = None
    seeds: str | None = None
    limit: int | None = None
    budget: dict[str, Any] = field(default_factory=dict)
    output_dir: str | None = None  # default: results/<suite>
    data_dir: str | None = None
    cache_dir: str | None = None
    include_paths: list[str] = field(default_factory=list)
    mixed_precision: str = "no"
    report_to: str = "none"
    rerun_failed: bool = False
    shard: str | None = None  # i/N
    executor: str = "local"  # or ray
    ray_address: str | None = None
    ray_cpus_per_run: float = 1.0
    ray_gpus_per_run: float = 0.0
    ray_num_cpus: int | None = None

    def overrides(self) -> dict[str, Any]:
        return {
            "backbones": self.backbones,
            "sources": self.sources,
            "targets": self.targets,
            "methods": self.methods,
            "fractions": self.fractions,
            "seeds": self.seeds,
            "limit": self.limit,
            "budget": self.budget or None,
        }


@dataclass
class SuitePlan:
    """A suite resolved and expanded: its runs (this shard's) and where they go."""

    resolved: dict[str, Any]
    where: str
    registry: Any  # TaskRegistry: every card parsed once
    specs: list  # RunSpec, this shard's
    num_runs: int  # the whole suite's
    output_dir: Path


@dataclass
class SuiteResult:
    """What `run_suite` did (on the main process; elsewhere only `main_process` is False)."""

    plan: SuitePlan
    main_process: bool
    outcome: Any = None  # SuiteOutcome
    board: dict[str, Any] = field(default_factory=dict)  # analysis.leaderboard.build's
    report: Path | None = None
    report_error: Exception | None = None  # the report page could not be written


def load_suite_data(options: RunOptions) -> tuple[dict[str, Any], str]:
    """The suite's YAML data and where it came from: `--suite`/`--config`, a suite made of the
    command line's `--targets`, else the `quick` suite."""
    from harness.suites import load_suite

    if options.config or options.suite:
        return load_suite(options.suite, options.config)
    if options.targets:  # a suite built on the command line
        return {"name": "cli"}, "command line"
    return load_suite("quick")


def plan_suite(options: RunOptions, data: dict[str, Any], where: str) -> SuitePlan:
    """Resolve the suite's `data` with the options' overrides and expand it into runs."""
    from harness.suites import expand, resolve_suite
    from harness.taskregistry import TaskRegistry

    # every card parsed once, here; an invalid one is reported and left out, an error only
    # when the suite needs it (expand looks up every task the suite names)
    registry = TaskRegistry(options.include_paths, strict=False)
    resolved = resolve_suite(data, options.overrides(), where)
    specs = expand(resolved, registry, where)  # every name checked once, here
    num_runs = len(specs)
    if options.shard:
        from harness.shards import shard_specs

        specs = shard_specs(specs, options.shard)
    output_dir = Path(options.output_dir or Path("results") / str(resolved.get("name", "cli")))
    return SuitePlan(resolved, where, registry, specs, num_runs, output_dir)


def check_report_to(value: str | None) -> None:
    """`--report_to`: none, all, or trackers Accelerate knows (comma-separated)."""
    from accelerate.utils import LoggerType

    from harness.errors import ConfigError

    known = [t.value for t in LoggerType]
    for name in (value or "none").split(","):
        if name.strip() not in ("none", "", *known):
            raise ConfigError(
                f"--report_to: unknown tracker {name.strip()!r}; use none, {', '.join(known)}"
            )


def _run_on_ray(options: RunOptions, runner: Any, specs: list, output_dir: Path) -> Any:
    from harness.executors import RunnerSettings, run_with_ray
    from harness.plugins import included_files

    settings = RunnerSettings(
        output_dir=str(output_dir.resolve()),
        cache_dir=str(runner.cache_dir.resolve()),
        data_dir=os.environ.get("TRANSFERBENCH_DATA_DIR"),
        include_paths=[str(Path(p).resolve()) for p in options.include_paths],
        plugin_files=included_files(),
        mixed_precision=options.mixed_precision,
        rerun_failed=options.rerun_failed,
        shard=options.shard,
    )
    return run_with_ray(
        specs,
        settings,
        address=options.ray_address,
        cpus_per_run=options.ray_cpus_per_run,
        gpus_per_run=options.ray_gpus_per_run,
        num_cpus=options.ray_num_cpus,
        runner=runner,
    )


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _prepared_runner(options: RunOptions, plan: SuitePlan) -> Any:
    """The folders checked (before any training) and the suite's runner."""
    from harness.context import default_cache_dir
    from harness.runner import SuiteRunner

    if plan.resolved.get("limit"):
        logger.warning(
            "--limit %s: every split is capped; these numbers are NOT comparable results",
            plan.resolved["limit"],
        )
    check_report_to(options.report_to)
    writable_folder(plan.output_dir, "--output_dir")
    writable_folder(plan.output_dir / "runs", "--output_dir's runs folder")
    cache = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    writable_folder(cache, "--cache_dir")
    return SuiteRunner(
        plan.output_dir,
        data_dir=options.data_dir,
        include_paths=options.include_paths,
        cache_dir=options.cache_dir,
        mixed_precision=options.mixed_precision,
        report_to=options.report_to,
        rerun_failed=options.rerun_failed,
        registry=plan.registry,
    )


def _write_config(options: RunOptions, plan: SuitePlan) -> dict[str, Any]:
    """config.yaml of the results folder: the resolved suite (shards write it at once:
    atomically); returns what it holds."""
    output_dir = plan.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    saved = {
        **plan.resolved,
        "targets": plan.resolved["targets"],
        "output_dir": str(output_dir),
        "data_dir": options.data_dir,
        "num_runs": plan.num_runs,
        "suite_file": plan.where,
    }
    config = output_dir / f".config.yaml.{os.getpid()}.tmp"
    config.write_text(yaml.safe_dump(_plain(saved), sort_keys=False))
    os.replace(config, output_dir / "config.yaml")
    return saved


def run_suite(options: RunOptions, plan: SuitePlan, echo: Echo | None = None) -> SuiteResult:
    """Run the plan's runs (this process with Accelerate, or Ray tasks), then on the main
    process the suite's similarity measures, the leaderboard files and the report page.
    Progress lines (the suite's, Ray's, the similarity step's) go to `echo`."""
    from harness.analysis.leaderboard import build
    from harness.analysis.report import write_report

    say = echo or (lambda _text: None)
    runner = _prepared_runner(options, plan)
    acc = runner.accelerator
    output_dir, specs = plan.output_dir, plan.specs
    saved = _write_config(options, plan) if acc.is_main_process else None
    shard = f" (shard {options.shard} of {plan.num_runs})" if options.shard else ""
    if acc.is_main_process:
        say(
            f"suite '{plan.resolved.get('name')}' ({plan.where}): {len(specs)} run(s){shard} -> {output_dir}"
        )
    if options.shard:
        runner.placement["shard"] = options.shard.replace(" ", "")
    if options.executor == "ray":
        outcome = _run_on_ray(options, runner, specs, output_dir)
        say(
            f"ray: {len(outcome.ran) + len(outcome.failed)} run(s) on {len(outcome.workers)} worker process(es)"
        )
    else:
        outcome = runner.run(specs)
    if not acc.is_main_process:
        return SuiteResult(plan, False, outcome)
    _similarity_step(options, plan, saved or {}, acc.num_processes, say)
    # a shard builds the board so far; files are written once all shards are done (leaderboard)
    board = build(output_dir, None if options.shard else output_dir, "md", strict=False)
    result = SuiteResult(plan, True, outcome, board)
    try:
        result.report = None if options.shard else write_report(output_dir)
    except Exception as exc:  # noqa: BLE001 - the records are safe; the page is a view of them
        result.report_error = exc
    return result


def _similarity_step(
    options: RunOptions, plan: SuitePlan, saved: dict[str, Any], processes: int, say: Echo
) -> None:
    """The suite's similarity measures, from the caches its runs filled (or why not now)."""
    from harness.similarity.tables import SimilarityRequest, suite_tasks, write_similarity
    from harness.suites import similarity_measures

    resolved, output_dir = plan.resolved, plan.output_dir
    measures = similarity_measures(resolved.get("similarity"), plan.where)
    tasks = [t for t in suite_tasks(saved, plan.where) if t != "none"]
    if measures and len(tasks) < 2:
        say(f"similarity: skipped, it compares tasks and this run has one ({', '.join(tasks)})")
    elif measures and (options.shard or processes > 1):
        why = "every shard" if options.shard else "the runs of every process"
        say(
            f"similarity measures and the report wait for {why}: run `transferbench similarity "
            f"--results {output_dir}` and `transferbench report --results {output_dir}` when all are done"
        )
    elif measures:
        request = SimilarityRequest(
            measures=[m.strip() for m in ",".join(measures).split(",") if m.strip()] or None,
            results=str(output_dir),
            method=resolved.get("similarity_method") or "finetune",
            include_paths=options.include_paths,
            data_dir=options.data_dir,
            cache_dir=options.cache_dir,
        )
        write_similarity(request, registry=plan.registry, echo=say)
