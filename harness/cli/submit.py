"""`transferbench submit` and `transferbench validate-submission` (see docs/submissions.md):
flags and printing over `harness.workflows.submission`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.common import add_include_argument, export_data_dir
from harness.errors import ConfigError


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `submit` and `validate-submission`."""
    p = sub.add_parser("submit", help="pack a suite run's records into one submission file")
    p.add_argument("--results", required=True, help="an output folder of `transferbench run`")
    p.add_argument("--name", required=True, help="the submission's name on the leaderboard")
    p.add_argument(
        "--output",
        help="the file to write (.json, or .json.gz to compress; "
        "default: <results>/submission.json)",
    )
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task cards")
    add_include_argument(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser(
        "validate-submission", help="check a submission file; exit 1 listing every problem"
    )
    p.add_argument("file", help="a submission file (.json or .json.gz)")
    p.add_argument(
        "--rerun",
        type=int,
        metavar="K",
        help="also run K >= 1 of its runs again (chosen at random; all of them when K is "
        "at least their number) and compare the scores",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the choice of runs to rerun")
    p.add_argument(
        "--data_dir", help="local data folder(s) for the reruns (default: $TRANSFERBENCH_DATA_DIR)"
    )
    p.add_argument("--cache_dir", help="cache for the reruns (default: $TRANSFERBENCH_CACHE)")
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task cards")
    add_include_argument(p)
    p.set_defaults(func=cmd_validate_submission)


def cmd_submit(args: argparse.Namespace) -> int:
    from harness.folders import results_folder
    from harness.taskregistry import TaskRegistry
    from harness.workflows.submission import pack, write_submission

    results = results_folder(args.results)
    output = Path(args.output) if args.output else results / "submission.json"
    if not output.name.endswith((".json", ".json.gz")):
        raise ConfigError(f"--output {output}: name it *.json or *.json.gz")
    if output.is_dir():
        raise ConfigError(f"--output {output} is a folder; give a file name")
    doc, notes = pack(results, args.name, TaskRegistry(args.include_path))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    write_submission(doc, output)
    size = output.stat().st_size
    print(
        f"submission '{doc['name']}' (suite '{doc['suite'].get('name')}', {len(doc['runs'])} runs, "
        f"sha256 {doc['sha256'][:16]}…) written to {output} ({size / 1024:.1f} KiB)"
    )
    return 0


def cmd_validate_submission(args: argparse.Namespace) -> int:
    from harness.taskregistry import TaskRegistry
    from harness.workflows.submission import load_and_validate, rerun

    if args.rerun is not None and args.rerun < 1:  # before any work: a flag out of range
        raise ConfigError(
            f"--rerun {args.rerun}: expected a number of runs >= 1 "
            "(leave --rerun out to only validate)"
        )
    export_data_dir(args.data_dir)
    registry = TaskRegistry(args.include_path)
    doc, result = load_and_validate(Path(args.file), registry)
    problems = list(result.problems)
    reran = []
    if not problems and args.rerun:
        reran = rerun(
            doc,
            args.rerun,
            args.seed,
            registry=registry,
            data_dir=args.data_dir,
            cache_dir=args.cache_dir,
        )
        problems += [f"rerun mismatch: {r.message()}" for r in reran if not r.ok]
    if problems:
        print(f"invalid: {args.file}: {len(problems)} problem(s):")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    line = result.summary
    if reran:
        exact = sum(r.exact for r in reran)
        line += (
            f"; rerun {len(reran)} of {len(result.records)} run(s) (seed {args.seed}): all reproduced "
            f"({exact} exactly, {len(reran) - exact} within seed-noise tolerance)"
        )
    print(line)
    return 0
