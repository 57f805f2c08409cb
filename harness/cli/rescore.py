"""`transferbench rescore`: a results folder's runs scored again with another metric, from
the predictions each run stored beside its record (`harness.predictions.rescore`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `rescore`."""
    p = sub.add_parser(
        "rescore",
        help="score a results folder's runs with another metric, from their stored predictions",
        description="Reads each run's per-example predictions (runs/<id>.predictions.json.gz) "
        "and scores them with --metric: the mean over seeds per setting with its 95 % interval. "
        "No run is repeated.",
    )
    p.add_argument("--results", required=True, help="an output folder of `transferbench run`")
    p.add_argument("--metric", required=True, help="a metric name (accuracy, f1, macro_f1, ...)")
    p.add_argument("--output", help="also write the table as csv to this file")
    p.set_defaults(func=cmd_rescore)


def cmd_rescore(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.errors import DataError
    from harness.predictions import rescore

    results = Path(args.results)
    if not results.is_dir():
        raise DataError(f"--results {results}: no such results folder")
    table = rescore(results, args.metric)
    skipped = table.attrs.get("without_predictions", 0)
    if table.empty:
        raise DataError(
            f"--results {results}: no run with stored predictions that {args.metric} applies to"
        )
    print(tabulate(table, headers="keys", tablefmt="github", showindex=False, floatfmt=".4f"))
    if skipped:
        print(f"\n{skipped} run(s) stored no predictions (older records, or a multi-task score)")
    if table.attrs.get("not_applicable"):
        print(f"{table.attrs['not_applicable']} run(s) are of a problem {args.metric} does not fit")
    if args.output:
        table.to_csv(args.output, index=False)
    return 0
