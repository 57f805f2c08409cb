"""`transferbench run`: a suite's runs (`harness.workflows.suite_run`), then its leaderboard and
a summary of what ran."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from harness.cli.common import add_include_argument, export_data_dir
from harness.workflows.suite_run import BUDGET_FLAGS, RunOptions

if TYPE_CHECKING:
    from harness.workflows.suite_run import SuiteResult


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `run`."""
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


def options_from(args: argparse.Namespace) -> RunOptions:
    """The library's `RunOptions` from the command line's flags."""
    budget = {
        k: getattr(args, k)
        for k in [*BUDGET_FLAGS, "gradient_checkpointing"]
        if getattr(args, k, None) is not None
    }
    return RunOptions(
        suite=args.suite,
        config=args.config,
        backbones=args.backbone or args.backbone_alias,
        sources=args.sources,
        targets=args.targets,
        methods=args.methods,
        fractions=args.fractions,
        seeds=args.seeds if args.seed is None else str(args.seed),
        limit=args.limit,
        budget=budget,
        output_dir=args.output_dir,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        include_paths=args.include_path,
        mixed_precision=args.mixed_precision,
        report_to=args.report_to,
        rerun_failed=args.rerun_failed,
        shard=args.shard,
        executor=args.executor,
        ray_address=args.ray_address,
        ray_cpus_per_run=args.ray_cpus_per_run,
        ray_gpus_per_run=args.ray_gpus_per_run,
        ray_num_cpus=args.ray_num_cpus,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from harness.workflows.suite_run import load_suite_data, plan_suite, run_suite

    options = options_from(args)
    data, where = load_suite_data(options)
    export_data_dir(args.data_dir, resolve=True)
    plan = plan_suite(options, data, where)
    if args.dry_run:
        for s in plan.specs:
            print(s.id, s.describe())
        print(f"{len(plan.specs)} run(s)")
        return 0
    result = run_suite(options, plan, echo=print)
    if not result.main_process:
        return 0
    return _summary(result, args.shard)


def _summary(result: SuiteResult, shard: str | None) -> int:
    """The leaderboard, the runs' counts and failures, and where the files are."""
    outcome, board, output_dir = result.outcome, result.board, result.plan.output_dir
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
        _print_failed(result, failed_ids)
    if result.report_error is not None:
        exc = result.report_error
        print(
            f"warning: the report page could not be written ({type(exc).__name__}: {exc}); "
            f"`transferbench report --results {output_dir}` retries",
            file=sys.stderr,
        )
    if shard:
        print(
            f"shard {shard} done; when every shard is, `transferbench leaderboard --results {output_dir}` "
            f"and `transferbench report --results {output_dir}` write the files"
        )
    else:
        report = result.report
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


def _print_failed(result: SuiteResult, failed_ids: set[str]) -> None:
    outcome = result.outcome
    by_id = {s.id: s for s in result.plan.specs}
    errors = {r["run_id"]: r.get("error", "?") for r in result.board["failed"]}
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
