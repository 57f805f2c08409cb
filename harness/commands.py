"""`transferbench run` and `transferbench leaderboard`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.cli_args import results_folder, writable_folder

logger = logging.getLogger(__name__)
BUDGET_FLAGS = {
    "num_train_epochs": float,
    "max_steps": int,
    "per_device_train_batch_size": int,
    "learning_rate": float,
    "weight_decay": float,
    "warmup_ratio": float,
    "gradient_accumulation_steps": int,
    "lr_scheduler_type": str,
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    from harness.cli_args import add_include_argument

    p = sub.add_parser("run", help="run a suite (default: the offline `quick` suite)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--suite", help="suite name in tasks/suites (see `transferbench list suites`)")
    src.add_argument("--config", help="suite YAML file")
    p.add_argument("--backbone", help="comma-separated backbone presets, Hub names or paths")
    p.add_argument("--model_name_or_path", dest="backbone_alias", help="alias of --backbone")
    p.add_argument(
        "--sources", help="comma-separated source sets; 'none' = no source, 'a+b' = a then b"
    )
    p.add_argument("--targets", help="comma-separated target tasks")
    p.add_argument("--methods", help="comma-separated methods (or the suite's method variants)")
    p.add_argument("--fractions", help="comma-separated fractions of the target's training split")
    p.add_argument("--seeds", help="comma-separated seeds")
    p.add_argument("--seed", type=int, help="one seed (same as --seeds N)")
    p.add_argument(
        "--output_dir", help="where records, leaderboard and config go (default: results/<suite>)"
    )
    p.add_argument(
        "--data_dir",
        help="local data folder(s), ':'-separated, searched in order (default: $TRANSFERBENCH_DATA_DIR)",
    )
    p.add_argument(
        "--cache_dir", help="cache for tokenizers, encoded splits, source encoders, features"
    )
    p.add_argument(
        "--limit",
        type=int,
        help="cap every split at N rows (quick checks; results marked not comparable)",
    )
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task cards")
    add_include_argument(p)
    p.add_argument("--mixed_precision", default="no", choices=["no", "fp16", "bf16"])
    p.add_argument("--report_to", default="none", help="tensorboard, wandb, all or none")
    p.add_argument(
        "--rerun_failed", action="store_true", help="run again the runs recorded as failed"
    )
    p.add_argument("--dry_run", action="store_true", help="print the expanded runs and exit")
    p.add_argument(
        "--shard",
        help="i/N: run only this shard's runs (i = 0..N-1); N shards together run "
        "each run once and may share the results folder and the cache",
    )
    p.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="local (this process, with Accelerate) or ray (each run a Ray task)",
    )
    p.add_argument(
        "--ray_address", help="a Ray cluster to join (default: start a local Ray instance)"
    )
    p.add_argument(
        "--ray_cpus_per_run", type=float, default=1.0, help="CPUs a run's Ray task asks for"
    )
    p.add_argument(
        "--ray_gpus_per_run", type=float, default=0.0, help="GPUs a run's Ray task asks for"
    )
    p.add_argument("--ray_num_cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    for flag, kind in BUDGET_FLAGS.items():
        p.add_argument(f"--{flag}", type=kind, help="training budget (overrides the suite)")
    p.add_argument(
        "--gradient_checkpointing",
        action="store_const",
        const=True,
        default=None,
        help="recompute encoder activations in the backward pass: less memory, ~30%% "
        "more time, the same result (a budget field)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("leaderboard", help="tables and gain matrices from run records")
    p.add_argument(
        "--results",
        help="folder of run records (searched recursively; default: results); with "
        "--submissions: the baselines' records",
    )
    p.add_argument(
        "--submissions",
        help="folder of submission files: rank the valid ones with the baselines "
        "(<output_dir>/leaderboard/index.html; default output_dir: this folder)",
    )
    add_include_argument(p)  # plug-in methods the submissions' suites name
    p.add_argument("--format", default="md", choices=["md", "latex", "html", "csv"])
    p.add_argument(
        "--output_dir", help="write leaderboard.* and gain matrices here (default: --results)"
    )
    p.add_argument("--skip_corrupt", action="store_true", help="report corrupt records and go on")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser(
        "report", help="one static HTML page of a results folder (<results>/report/index.html)"
    )
    p.add_argument(
        "--results", default="results/quick", help="a results folder of `transferbench run`"
    )
    p.set_defaults(func=cmd_report)


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


def _run_on_ray(args: argparse.Namespace, runner: Any, specs: list, output_dir: Path) -> Any:
    from harness.executors import RunnerSettings, run_with_ray
    from harness.plugins import included_files

    settings = RunnerSettings(
        output_dir=str(output_dir.resolve()),
        cache_dir=str(runner.cache_dir.resolve()),
        data_dir=os.environ.get("TRANSFERBENCH_DATA_DIR"),
        include_paths=[str(Path(p).resolve()) for p in args.include_path],
        plugin_files=included_files(),
        mixed_precision=args.mixed_precision,
        rerun_failed=args.rerun_failed,
        shard=args.shard,
    )
    outcome = run_with_ray(
        specs,
        settings,
        address=args.ray_address,
        cpus_per_run=args.ray_cpus_per_run,
        gpus_per_run=args.ray_gpus_per_run,
        num_cpus=args.ray_num_cpus,
        runner=runner,
    )
    print(
        f"ray: {len(outcome.ran) + len(outcome.failed)} run(s) on {len(outcome.workers)} worker process(es)"
    )
    return outcome


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    budget = {
        k: getattr(args, k)
        for k in [*BUDGET_FLAGS, "gradient_checkpointing"]
        if getattr(args, k, None) is not None
    }
    seeds = args.seeds if args.seed is None else str(args.seed)
    return {
        "backbones": args.backbone or args.backbone_alias,
        "sources": args.sources,
        "targets": args.targets,
        "methods": args.methods,
        "fractions": args.fractions,
        "seeds": seeds,
        "limit": args.limit,
        "budget": budget or None,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from harness.analysis.leaderboard import build
    from harness.runner import SuiteRunner
    from harness.suites import expand, load_suite, resolve_suite, similarity_measures
    from harness.taskregistry import TaskRegistry

    if args.config or args.suite:
        data, where = load_suite(args.suite, args.config)
    elif args.targets:  # a suite built on the command line
        data, where = {"name": "cli"}, "command line"
    else:
        data, where = load_suite("quick")
    if args.data_dir:  # backbones and cards find files under it (e.g. models/all-MiniLM-L6-v2)
        os.environ["TRANSFERBENCH_DATA_DIR"] = os.pathsep.join(
            str(Path(d).expanduser().resolve())
            for d in args.data_dir.split(os.pathsep)
            if d.strip()
        )
    # every card parsed once, here; an invalid one is reported and left out, an error only
    # when the suite needs it (expand looks up every task the suite names)
    registry = TaskRegistry(args.include_path, strict=False)
    resolved = resolve_suite(data, _overrides(args), where)
    specs = expand(resolved, registry, where)  # every name checked once, here
    num_runs = len(specs)
    if args.shard:
        from harness.executors import shard_specs

        specs = shard_specs(specs, args.shard)
    output_dir = Path(args.output_dir or Path("results") / str(resolved.get("name", "cli")))
    if args.dry_run:
        for s in specs:
            print(s.id, s.describe())
        print(f"{len(specs)} run(s)")
        return 0
    if resolved.get("limit"):
        logger.warning(
            "--limit %s: every split is capped; these numbers are NOT comparable results",
            resolved["limit"],
        )
    check_report_to(args.report_to)
    writable_folder(output_dir, "--output_dir")
    writable_folder(output_dir / "runs", "--output_dir's runs folder")
    from harness.context import default_cache_dir

    writable_folder(Path(args.cache_dir) if args.cache_dir else default_cache_dir(), "--cache_dir")
    runner = SuiteRunner(
        output_dir,
        data_dir=args.data_dir,
        include_paths=args.include_path,
        cache_dir=args.cache_dir,
        mixed_precision=args.mixed_precision,
        report_to=args.report_to,
        rerun_failed=args.rerun_failed,
        registry=registry,
    )
    acc = runner.accelerator
    if acc.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        saved = {
            **resolved,
            "targets": resolved["targets"],
            "output_dir": str(output_dir),
            "data_dir": args.data_dir,
            "num_runs": num_runs,
        }
        config = (
            output_dir / f".config.yaml.{os.getpid()}.tmp"
        )  # shards write it at once: atomically
        config.write_text(yaml.safe_dump(_plain(saved), sort_keys=False))
        os.replace(config, output_dir / "config.yaml")
    shard = f" (shard {args.shard} of {num_runs})" if args.shard else ""
    acc.print(f"suite '{resolved.get('name')}': {len(specs)} run(s){shard} -> {output_dir}")
    if args.shard:
        runner.placement["shard"] = args.shard.replace(" ", "")
    if args.executor == "ray":
        outcome = _run_on_ray(args, runner, specs, output_dir)
    else:
        outcome = runner.run(specs)
    if not acc.is_main_process:
        return 0
    measures = similarity_measures(resolved.get("similarity"), where)
    from harness.similarity.command import cmd_similarity, suite_tasks

    tasks = [t for t in suite_tasks(saved, where) if t != "none"]
    if measures and len(tasks) < 2:
        print(f"similarity: skipped, it compares tasks and this run has one ({', '.join(tasks)})")
    elif measures and (args.shard or acc.num_processes > 1):
        why = "every shard" if args.shard else "the runs of every process"
        print(
            f"similarity measures and the report wait for {why}: run `transferbench similarity "
            f"--results {output_dir}` and `transferbench report --results {output_dir}` when all are done"
        )
    elif measures:  # the suite's similarity measures, from the caches its runs filled
        cmd_similarity(
            argparse.Namespace(
                tasks=None,
                measures=",".join(measures),
                results=str(output_dir),
                backbone=None,
                method=resolved.get("similarity_method") or "finetune",
                output_dir=None,
                source_epochs=None,
                max_rows=1000,
                limit=None,
                max_train_samples=None,
                n_boot=1000,
                include_path=args.include_path,
                data_dir=args.data_dir,
                cache_dir=args.cache_dir,
                registry=registry,
            )
        )
    # a shard prints the board so far; files are written once all shards are done (leaderboard)
    board = build(output_dir, None if args.shard else output_dir, "md", strict=False)
    print(board["text"])
    for problem in board["problems"]:
        print(f"error: skipped a record that does not read: {problem}", file=sys.stderr)
    print(
        f"\n{len(outcome.ran)} run(s) done, {len(outcome.skipped)} skipped (already recorded), {len(outcome.failed)} failed"
    )
    if outcome.prepare_seconds:
        print(f"preparation (sources, task sets, teachers): {outcome.prepare_seconds:.1f}s")
    if outcome.cache_counts:
        print("caches: " + ", ".join(f"{k}={v}" for k, v in sorted(outcome.cache_counts.items())))
    failed_ids = set(outcome.failed) | set(outcome.failed_before)
    if failed_ids:
        by_id = {s.id: s for s in specs}
        errors = {r["run_id"]: r.get("error", "?") for r in board["failed"]}
        print(
            f"\n{len(failed_ids)} run(s) of this suite FAILED"
            + (
                f" ({len(outcome.failed_before)} recorded earlier; --rerun_failed retries them)"
                if outcome.failed_before
                else ""
            )
            + ":"
        )
        for run_id in sorted(failed_ids, key=lambda i: by_id[i].describe()):
            print(f"  {run_id}  {by_id[run_id].describe()}\n      {errors.get(run_id, '?')}")
    from harness.analysis.report import write_report

    try:
        report = None if args.shard else write_report(output_dir)
    except Exception as exc:  # noqa: BLE001 - the records are safe; the page is a view of them
        print(
            f"warning: the report page could not be written ({type(exc).__name__}: {exc}); "
            f"`transferbench report --results {output_dir}` retries",
            file=sys.stderr,
        )
        report = None
    if args.shard:
        print(
            f"shard {args.shard} done; when every shard is, `transferbench leaderboard --results {output_dir}` "
            f"and `transferbench report --results {output_dir}` write the files"
        )
    else:
        print(
            f"leaderboard and gain matrices written to {output_dir}"
            + (f"; report: {report}" if report else "")
        )
    if failed_ids:
        print(f"error: {len(failed_ids)} run(s) failed; see the summary above", file=sys.stderr)
        return 1
    if board["problems"]:
        print(
            f"error: {len(board['problems'])} record file(s) in {output_dir} do not read (see above); "
            "they were left as they are",
            file=sys.stderr,
        )
        return 1
    return 0


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.analysis.leaderboard import build

    if getattr(args, "submissions", None):
        from harness.workflows.submit_command import cmd_submissions_leaderboard

        return cmd_submissions_leaderboard(args)
    results = results_folder(args.results or "results")
    out = writable_folder(Path(args.output_dir), "--output_dir") if args.output_dir else results
    board = build(results, out, args.format, strict=not args.skip_corrupt)
    print(board["text"])
    for p in board["problems"]:
        print(f"skipped corrupt record: {p}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.analysis.report import write_report
    from harness.records import load_records

    results = results_folder(args.results)
    load_records(
        results, strict=True
    )  # a file in runs/ that is not a record: named, as leaderboard does
    writable_folder(results / "report", "--results' report folder")
    page = write_report(results)
    print(f"report written to {page}")
    return 0
