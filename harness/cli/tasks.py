"""`transferbench list`, `validate` and `inspect`: the registered tasks, suites, methods,
backbones, metrics and measures, task cards checked, and a task's splits."""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import add_include_argument, table
from harness.errors import TransferBenchError


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `list`, `validate` and `inspect`."""
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
        print(table(rows))
        return 0
    if what == "metrics":
        from harness.metrics import METRICS

        print(
            table(
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

        print(table(describe_measures()))
        return 0
    if what == "backbones":
        from harness.backbones import BACKBONES, describe_preset

        names = [n for n in BACKBONES.names() if not args.tag or args.tag in BACKBONES.get(n).tags]
        print(table([describe_preset(n) for n in names]))
        return 0
    return _list_extra(what, args)


def _list_extra(what: str, args: argparse.Namespace) -> int:
    """`list suites` / `list methods` (run-time pieces, imported only when asked)."""
    if what == "suites":
        from harness.suites import describe_suites

        print(table(describe_suites()))
        return 0
    if what == "methods":
        from harness.methods import describe_methods

        print(table(describe_methods()))
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
        print(table(rows))
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
            print(table(sample_rows(card, data, args.rows), tablefmt="simple"))
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
