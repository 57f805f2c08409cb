"""`transferbench history`: headline scores over a series of nightly result folders, drawn with
their seed-noise band, and drift (`harness.workflows.history`; docs/nightly.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.workflows.compare import MIN_TOLERANCE
from harness.workflows.history import ALPHA, MIN_NIGHTS


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `history`."""
    p = sub.add_parser(
        "history",
        help="headline scores over many nightly result folders: plots and drift",
        description="Plot each headline score (primary metric per run group, mean over seeds, "
        "band ± seed s.d.) over a series of nightly result folders and flag drift: a "
        "monotone trend (Mann-Kendall) with a cumulative change beyond seed noise "
        "(docs/nightly.md).",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="nightly results folders, one per night")
    p.add_argument(
        "--order",
        default="created",
        choices=["created", "given"],
        help="order nights by their records' `created` time (default) or as given",
    )
    p.add_argument(
        "--output_dir",
        default="results/history",
        help="where history.png/.svg, history.csv, drift.csv and drift.md go",
    )
    p.add_argument("--alpha", type=float, default=ALPHA, help=f"test level (default {ALPHA:g})")
    p.add_argument(
        "--min_tolerance",
        type=float,
        default=MIN_TOLERANCE,
        help=f"floor of the noise band in metric units (default {MIN_TOLERANCE:g})",
    )
    p.add_argument(
        "--min_nights",
        type=int,
        default=MIN_NIGHTS,
        help=f"nights a series needs to be tested (default {MIN_NIGHTS})",
    )
    p.add_argument("--fail_on_drift", action="store_true", help="exit 1 when a series drifts")
    p.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from harness.errors import ConfigError
    from harness.workflows.compare import check_level
    from harness.workflows.history import history

    check_level(args.alpha, args.min_tolerance)
    if args.min_nights < 3:
        raise ConfigError(f"--min_nights {args.min_nights}: a trend needs at least 3 nights")
    out = history(
        args.dirs,
        Path(args.output_dir),
        args.order,
        args.alpha,
        args.min_tolerance,
        args.min_nights,
    )
    print(out["text"], end="")
    drifting = int((out["tests"]["status"] == "DRIFT").sum())
    return 1 if drifting and args.fail_on_drift else 0
