"""`transferbench compare`: a results folder against a reference one, run group by run group
and metric (`harness.workflows.compare`; the rule is in docs/nightly.md)."""

from __future__ import annotations

import argparse

from harness.workflows.compare import ALPHA, MIN_TOLERANCE


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `compare`."""
    p = sub.add_parser(
        "compare",
        help="compare a results folder with a reference one (nightly regression check)",
        description="Per run group (spec without seed) and metric: reference and new mean over "
        "seeds, the change, and REGRESSION when it is worse than seed noise explains "
        "(docs/nightly.md). Exit 1 on a regression, 2 on unusable input, 0 otherwise.",
    )
    p.add_argument(
        "--reference",
        required=True,
        help="reference results folder (e.g. results/reference/nightly)",
    )
    p.add_argument("--results", default="results/nightly", help="the new results folder")
    p.add_argument("--format", default="md", choices=["md", "json"])
    p.add_argument("--output", help="also write the report to this file")
    p.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        help=f"one-sided level of the Welch test per group and metric (default {ALPHA:g})",
    )
    p.add_argument(
        "--min_tolerance",
        type=float,
        default=MIN_TOLERANCE,
        help=f"floor of the tolerance in metric units, for groups with no seed spread "
        f"(default {MIN_TOLERANCE:g})",
    )
    p.add_argument(
        "--fail_on_missing",
        action="store_true",
        help="exit 1 also when reference runs are missing from the results",
    )
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.workflows.compare import check_level, compare, is_failure
    from harness.workflows.compare_output import to_json, to_markdown, write_output
    from harness.workflows.compare_sides import load_side

    check_level(args.alpha, args.min_tolerance)
    reference = load_side(args.reference, "--reference")
    results = load_side(args.results, "--results")
    report = compare(reference, results, args.alpha, args.min_tolerance)
    text = to_json(report) if args.format == "json" else to_markdown(report, args.fail_on_missing)
    print(text, end="")
    if args.output:
        write_output(text, args.output)
    return 1 if is_failure(report, args.fail_on_missing) else 0
