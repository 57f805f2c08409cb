"""The `transferbench` command (also `python -m harness`): its parser, one module of
`harness.cli` per group of commands, and `main`, which runs one and turns errors into
messages and exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from harness import __version__
from harness.cli.compare import add_commands as add_compare_commands
from harness.cli.history import add_commands as add_history_commands
from harness.cli.recommend import add_commands as add_recommend_commands
from harness.cli.report import add_commands as add_report_commands
from harness.cli.rescore import add_commands as add_rescore_commands
from harness.cli.run import add_commands as add_run_commands
from harness.cli.similarity import add_commands as add_similarity_commands
from harness.cli.submit import add_commands as add_submit_commands
from harness.cli.tasks import add_commands as add_tasks_commands
from harness.errors import CardErrors, TransferBenchError


def build_parser() -> argparse.ArgumentParser:
    """The `transferbench` parser with every command's subparser."""
    parser = argparse.ArgumentParser(
        prog="transferbench", description="Benchmark transfer learning and multi-task learning."
    )
    parser.add_argument("--version", action="version", version=f"transferbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for add_commands in (  # in the order `--help` lists them
        add_tasks_commands,
        add_run_commands,
        add_report_commands,
        add_rescore_commands,
        add_similarity_commands,
        add_recommend_commands,
        add_submit_commands,
        add_compare_commands,
        add_history_commands,
    ):
        add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (`run` when none is given); returns its exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # the main job: the quick suite
        argv = ["run"]
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if getattr(args, "include", None):  # plug-in method files, before any name is looked up
            from harness.plugins import load_method_file

            for path in args.include:
                load_method_file(path)
        return int(args.func(args) or 0)
    except CardErrors as exc:
        print(f"error: {len(exc.problems)} problem(s) in task cards:", file=sys.stderr)
        for p in exc.problems:
            print(f"  - {p}", file=sys.stderr)
        return exc.exit_code
    except TransferBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except PermissionError as exc:  # a read-only output folder, say: the path, not a traceback
        print(
            f"error: {exc.filename or exc}: permission denied ({exc.strerror or exc})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
