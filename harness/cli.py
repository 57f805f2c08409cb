"""The `transferbench` command (also `python -m harness`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from harness import __version__
from harness.cli_args import add_include_argument
from harness.errors import CardErrors, TransferBenchError

logger = logging.getLogger("harness")


def _table(rows: list[dict], headers: str = "keys", tablefmt: str = "github") -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt=tablefmt) if rows else "(none)"


def cmd_list(args: argparse.Namespace) -> int:
    what = args.what
    if what == "tasks":
        from harness.taskregistry import TaskRegistry

        reg = TaskRegistry(args.include_path)
        rows = []
        for name in reg.names(args.tag):
            c = reg.get(name)
            rows.append(
                {
                    "name": c.name,
                    "modality": c.modality,
                    "problem": c.problem + (" (pair)" if c.is_pair else ""),
                    "labels": c.num_labels if c.has_classes else "-",
                    "primary metric": f"{c.primary_metric} ({c.direction})",
                    "sources": c.describe_sources(),
                    "tags": ",".join(c.tags),
                }
            )
        print(_table(rows))
        return 0
    if what == "metrics":
        from harness.metrics import METRICS

        print(
            _table(
                [
                    {
                        "name": s.name,
                        "direction": s.direction,
                        "problems": ",".join(s.problems),
                        "module": s.module,
                    }
                    for s in METRICS.values()
                ]
            )
        )
        return 0
    if what == "measures":
        from harness.similarity.registry import describe_measures

        print(_table(describe_measures()))
        return 0
    if what == "backbones":
        from harness.backbones import BACKBONES, describe_preset

        names = [n for n in BACKBONES.names() if not args.tag or args.tag in BACKBONES.get(n).tags]
        print(_table([describe_preset(n) for n in names]))
        return 0
    return _list_extra(what, args)


def _list_extra(what: str, args: argparse.Namespace) -> int:
    """`list suites` / `list methods` (run-time pieces, imported only when asked)."""
    if what == "suites":
        from harness.suites import describe_suites

        print(_table(describe_suites()))
        return 0
    if what == "methods":
        from harness.methods import describe_methods

        print(_table(describe_methods()))
        return 0
    raise TransferBenchError(f"cannot list '{what}'")


def cmd_validate(args: argparse.Namespace) -> int:
    """Check every card under the paths, each on its own, and list every problem at once
    (a name a shipped card already has included: `run --include_path` would refuse it)."""
    from harness.taskregistry import validate_card_paths

    cards, problems = validate_card_paths(args.paths)
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"ok: {len(cards)} card(s) valid")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Load a task's splits and show their sizes, label counts and the majority-class floor."""
    from collections import Counter

    from harness.analysis.floor import constant_baseline
    from harness.data.loading import load_task
    from harness.taskregistry import TaskRegistry

    reg = TaskRegistry(args.include_path, strict=False)  # a broken neighbour card: logged
    for name in args.tasks:
        card = reg.get(name)
        data = load_task(card, args.data_dir, args.source)
        print(f"{card.name}: source={data.source}")
        rows = []
        for r in ("train", "validation", "test"):
            ds = data.split(r)
            row = {"split": r, "rows": len(ds), "columns": ", ".join(ds.column_names)}
            if card.has_classes and len(ds):
                counts = Counter(ds["labels"])
                row["labels"] = ", ".join(
                    f"{card.label_names[i]} {counts[i]}" for i in range(card.num_labels)
                )
            elif len(ds):
                labels = ds["labels"]
                row["labels"] = (
                    f"mean {sum(labels) / len(labels):.4f}, min {min(labels):.4f}, max {max(labels):.4f}"
                )
            rows.append(row)
        print(_table(rows))
        for split, counts in data.dropped.items():
            print(
                f"dropped from '{split}' (label not in the label set): {sum(counts.values())} row(s) {counts}"
            )
        if len(data.test):
            floor = constant_baseline(card, data.test["labels"])
            scores = ", ".join(f"{m} {v:.4f}" for m, v in floor["metrics"].items())
            kind = "majority class" if card.has_classes else "constant (the mean)"
            print(f"floor on the scored split: {kind} {floor['predict']!r}: {scores}")
        if args.rows > 0:
            print(
                f"{args.rows} row(s) of each split, spread from its first (text cut at "
                f"{SAMPLE_WIDTH} characters):"
            )
            # not a `|` table: a reader of the sizes table above finds only that one
            print(_table(sample_rows(card, data, args.rows), tablefmt="simple"))
        print()
    return 0


SAMPLE_WIDTH = 60  # characters of a text shown by `inspect`


def _shown(value: object, width: int = SAMPLE_WIDTH) -> str:
    """A cell of `inspect`'s sample rows: one line of text cut at `width`, or an image's size."""
    if hasattr(value, "size") and hasattr(value, "mode"):  # a decoded PIL image
        return f"<image {value.size[0]}x{value.size[1]} {value.mode}>"
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def sample_rows(card, data, n: int) -> list[dict[str, object]]:
    """`n` rows of each split, spread evenly from its first (a sorted file's first rows are
    often one class): the input columns as read, and the label by name."""
    rows: list[dict[str, object]] = []
    for role in ("train", "validation", "test"):
        ds = data.split(role)
        for i in sorted({k * len(ds) // n for k in range(n)} if len(ds) > n else range(len(ds))):
            row = ds[i]
            out: dict[str, object] = {"split": role, "row": i}
            for col in card.input_columns:
                out[col] = _shown(row.get(col, ""))
            label = row["labels"]
            if card.has_classes:
                out["label"] = _shown(card.label_names[int(label)])
            else:
                out["label"] = f"{float(label):.4g}"
            rows.append(out)
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transferbench", description="Benchmark transfer learning and multi-task learning."
    )
    parser.add_argument("--version", action="version", version=f"transferbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list tasks, suites, methods, backbones, metrics or measures")
    p.add_argument(
        "what", choices=["tasks", "suites", "methods", "backbones", "metrics", "measures"]
    )
    p.add_argument("--tag", help="only entries with this tag (tasks: also a modality)")
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task cards")
    add_include_argument(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("validate", help="check task cards; exits non-zero listing every problem")
    p.add_argument("paths", nargs="+", help="card files or folders")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("inspect", help="load tasks and show their splits")
    p.add_argument("tasks", nargs="+")
    p.add_argument(
        "--data_dir",
        help="local data folder(s), ':'-separated, searched in order (default: $TRANSFERBENCH_DATA_DIR)",
    )
    p.add_argument("--source", default="auto", choices=["auto", "generator", "local", "hub"])
    p.add_argument("--include_path", action="append", default=[])
    p.add_argument(
        "--rows",
        type=int,
        default=3,
        help="sample rows shown per split, labels by name (default 3; 0: none)",
    )
    p.set_defaults(func=cmd_inspect)

    _add_run_commands(sub)
    return parser


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    from harness.commands import add_commands
    from harness.similarity import command as similarity
    from harness.similarity import recommend

    add_commands(sub)
    similarity.add_command(sub)
    recommend.add_command(sub)
    from harness.workflows import submit_command  # submissions: submit, validate-submission

    submit_command.add_command(sub)
    from harness.workflows import compare, history  # the nightly check and drift

    compare.add_command(sub)
    history.add_command(sub)


def main(argv: Sequence[str] | None = None) -> int:
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
