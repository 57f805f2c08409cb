"""`transferbench recommend --target T`: candidate sources ranked for a target
(`harness.similarity.recommend.recommend`), with the caution, reliability and notes said
around the ranking."""

from __future__ import annotations

import argparse

from harness.cli.common import comma_list, export_data_dir


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `recommend`."""
    p = sub.add_parser(
        "recommend", help="rank sources for a target by the measure that predicted gain best"
    )
    p.add_argument("--target", required=True, help="the task to transfer to")
    p.add_argument(
        "--results", help="a transfer suite's results, after `transferbench similarity --results`"
    )
    p.add_argument(
        "--sources", help="comma-separated candidate sources (default: the suite's sources)"
    )
    p.add_argument("--measure", help="rank by this measure instead of the best one")
    p.add_argument("--max_rows", type=int, default=1000)
    p.add_argument("--include_path", action="append", default=[])
    p.add_argument("--data_dir")
    p.add_argument("--cache_dir")
    p.set_defaults(func=cmd_recommend)


def cmd_recommend(args: argparse.Namespace) -> int:
    from harness.similarity.recommend import recommend

    export_data_dir(args.data_dir)
    found = recommend(
        args.target,
        results=args.results,
        sources=comma_list(args.sources) if args.sources else None,
        measure=args.measure,
        max_rows=args.max_rows,
        include_paths=args.include_path,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
    )
    for line in found.caution:
        print(line)
    if found.caution:
        print()
    print(f"sources for {found.target}, ranked by {found.measure}:")
    print(found.table)
    if found.best is None:
        print(f"\nno source could be scored by {found.measure}: nothing to recommend")
        return 1
    guess = " (a guess: see the caution above)" if found.caution else ""
    print(f"\nrecommended source: {found.best}" + guess)
    if found.reliability:
        print("reliability: " + "\n".join(found.reliability))
    for n in found.notes:
        print(f"note: {n}")
    return 0
