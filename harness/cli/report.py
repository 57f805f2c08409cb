"""`transferbench leaderboard` and `transferbench report`: the tables, gain matrices and HTML
page of a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.common import add_include_argument


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `leaderboard` and `report`."""
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


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.analysis.leaderboard import build
    from harness.folders import results_folder, writable_folder

    if getattr(args, "submissions", None):
        return submissions_leaderboard(args)
    results = results_folder(args.results or "results")
    out = writable_folder(Path(args.output_dir), "--output_dir") if args.output_dir else results
    board = build(results, out, args.format, strict=not args.skip_corrupt)
    print(board["text"])
    for p in board["problems"]:
        print(f"skipped corrupt record: {p}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.analysis.report import write_report
    from harness.folders import results_folder, writable_folder
    from harness.records import load_records

    results = results_folder(args.results)
    load_records(
        results, strict=True
    )  # a file in runs/ that is not a record: named, as leaderboard does
    writable_folder(results / "report", "--results' report folder")
    page = write_report(results)
    print(f"report written to {page}")
    return 0


def submissions_leaderboard(args: argparse.Namespace) -> int:
    """`transferbench leaderboard --submissions DIR [--results BASELINES] [--output_dir OUT]`."""
    from tabulate import tabulate

    from harness.errors import DataError
    from harness.folders import results_folder, writable_folder
    from harness.workflows.merge import build_board, text_table, write_board

    folder = Path(args.submissions)
    baselines = results_folder(args.results) if args.results else None
    out = writable_folder(Path(args.output_dir or folder), "--output_dir")
    board = build_board(folder, baselines)
    for path, problems in board.invalid:
        print(
            f"skipped invalid submission {path.name}: {len(problems)} problem(s):", file=sys.stderr
        )
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    for note in board.notes:
        print(f"note: {note}", file=sys.stderr)
    if not board.valid:
        raise DataError(
            f"--submissions {folder}: no valid submission to rank "
            f"({len(board.invalid)} invalid, listed above)"
        )
    page = write_board(board, out)
    if board.table.empty:
        print("(the valid submissions hold no runs to rank)")
    for suite, part in board.table.groupby("suite", sort=True) if not board.table.empty else []:
        print(f"\nsuite {suite}\n")
        shown = text_table(part).drop(columns=["suite"])
        print(tabulate(shown, headers="keys", tablefmt="github", showindex=False))
        for panel in (p for p in board.panels if p.suite == suite):
            what = panel.result.describe() if panel.result else ""
            print(
                f"\ncritical difference ({panel.modality}): "
                + "; ".join(filter(None, [what, panel.note]))
            )
            if panel.result:
                print(
                    "  average ranks: "
                    + ", ".join(
                        f"{n} {r:.2f}" for n, r in zip(panel.result.names, panel.result.avg_ranks)
                    )
                )
    print(
        f"\n{len(board.valid)} valid submission(s), {len(board.invalid)} skipped; leaderboard page: {page}"
    )
    return 0
