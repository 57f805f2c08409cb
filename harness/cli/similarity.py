"""`transferbench similarity`: measures for any registered tasks, their matrices and pictures,
and — given the results of a transfer suite — how well each measure predicts the gain
(`harness.similarity.tables.write_similarity`)."""

from __future__ import annotations

import argparse

from harness.cli.common import comma_list, export_data_dir


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `similarity`."""
    p = sub.add_parser(
        "similarity", help="task similarity measures, their pictures and correlation with gain"
    )
    p.add_argument(
        "--tasks",
        help="comma-separated tasks (default with --results: the suite's sources and targets)",
    )
    p.add_argument(
        "--measures",
        help="comma-separated measures (default: all; see `transferbench list measures`)",
    )
    p.add_argument(
        "--results",
        help="a transfer suite's results: its backbone and source budget are used "
        "(cached sources reused) and each measure is set against the realised gain",
    )
    p.add_argument(
        "--backbone",
        help="the reference backbone (default: the suite's, else bert-tiny / resnet-tiny)",
    )
    p.add_argument(
        "--method", default="finetune", help="whose gains the measures are compared with"
    )
    p.add_argument(
        "--output_dir", help="where matrices and pictures go (default: <results>/similarity)"
    )
    p.add_argument(
        "--source_epochs", type=float, help="epochs to train each source (without --results)"
    )
    p.add_argument("--max_rows", type=int, default=1000, help="rows per task the measures see")
    p.add_argument("--limit", type=int, help="cap every split (quick checks)")
    p.add_argument(
        "--max_train_samples",
        type=int,
        help="train each task on (and measure) a seeded sample of this many rows (default: the suite's)",
    )
    p.add_argument("--n_boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task cards")
    p.add_argument("--data_dir", help="local data folder(s)")
    p.add_argument("--cache_dir", help="the cache the runs use")
    p.set_defaults(func=cmd_similarity)


def cmd_similarity(args: argparse.Namespace) -> int:
    from harness.similarity.tables import SimilarityRequest, write_similarity

    export_data_dir(args.data_dir)
    request = SimilarityRequest(
        tasks=comma_list(args.tasks),
        measures=comma_list(args.measures) or None,
        results=args.results,
        backbone=args.backbone,
        method=args.method,
        output_dir=args.output_dir,
        source_epochs=args.source_epochs,
        max_rows=args.max_rows,
        limit=args.limit,
        max_train_samples=args.max_train_samples,
        n_boot=args.n_boot,
        include_paths=args.include_path,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
    )
    write_similarity(request, echo=print)
    return 0
