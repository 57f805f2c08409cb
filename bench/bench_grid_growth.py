"""How a grid's cost grows: one small suite grown along each axis in turn.

A base suite (one source, one target, one fraction, one seed, one method: a linear probe on
frozen features, `feature_extraction`) on the offline synthetic text tasks is grown along one
axis at a time — sources, targets, fractions, seeds, methods — to `--sizes` (default 1 2 4),
every suite on an empty cache, in one process. For each it prints the wall time, its ratio to
the axis' size-1 suite, and the counts that explain it, read from the cache and the records:

- source trainings: source encoders trained (cache misses of `sources`);
- feature passes: frozen-encoder passes over a (encoder, task, split) (misses of `features`);
- probe trainings: heads trained on cached features (`feature_extraction` runs);
- full trainings: runs that train an encoder on the target (every other method).

Then the fitted growth exponent per axis (slope of log time on log size: 1 is linear, 0 is
flat) beside the law the design promises:

    sources    source trainings and feature passes linear in sources (each source one encoder)
    targets    source trainings flat (one per source, not sources x targets); features linear
    fractions  source trainings and feature passes flat (full splits cached); probes linear
    seeds      source trainings flat (one source seed); feature passes flat; probes linear
    methods    each method pays only its own training; shared sources/features counted once

    python bench/bench_grid_growth.py                  # sizes 1 2 4, bert-tiny
    python bench/bench_grid_growth.py --sizes 1 2 4 8 --axes sources targets
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

AXES = ("sources", "targets", "fractions", "seeds", "methods")
SOURCES = [
    "synth_text_anchor",
    "synth_text_far",
    "synth_text_mid",
    "synth_text_pair",
    "synth_text_regression",
    "synth_text_near",
]
TARGETS = [
    "synth_text_near",
    "synth_text_mid",
    "synth_text_far",
    "synth_text_pair",
    "synth_text_regression",
    "synth_text_anchor",
]
FRACTIONS = [0.5, 0.25, 1.0, 0.1, 0.75, 0.05, 0.4, 0.6]
METHODS: list[tuple[str, dict[str, Any]]] = [
    ("feature_extraction", {"budget": {"learning_rate": 1.0e-2}}),
    ("finetune", {}),
    ("scratch", {}),
    ("finetune_AnB", {"method": "finetune", "copy_first_n": 2, "finetune_copied": False}),
    (
        "feature_extraction_mlp",
        {"method": "feature_extraction", "head_hidden": 64, "budget": {"learning_rate": 1.0e-2}},
    ),
]
LAW = {
    "sources": "source trainings and feature passes linear in sources",
    "targets": "source trainings flat; feature passes linear in targets",
    "fractions": "source trainings and feature passes flat; probes linear",
    "seeds": "source trainings and feature passes flat; probes linear",
    "methods": "shared source and features once; each method its own training",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes", type=int, nargs="+", default=[1, 2, 4], help="axis sizes (default 1 2 4)"
    )
    p.add_argument("--axes", nargs="+", default=list(AXES), choices=AXES, help="axes to grow")
    p.add_argument("--backbone", default="bert-tiny", help="text backbone preset")
    p.add_argument(
        "--max_train_samples",
        type=int,
        default=0,
        help="cap on training rows (default 0: none; a cap below a split's size samples "
        "it per seed, so features are then computed per seed)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's choice)")
    return p.parse_args(argv)


def grown(axis: str, size: int, backbone: str, cap: int) -> dict[str, Any]:
    suite: dict[str, Any] = {
        "name": f"grow-{axis}-{size}",
        "backbones": [{"name": backbone, "max_length": 32, "vocab_size": 1000}],
        "sources": [SOURCES[0]],
        "targets": [TARGETS[0]],
        "methods": dict(METHODS[:1]),
        "fractions": [FRACTIONS[0]],
        "seeds": [0],
        "budget": {"num_train_epochs": 3, "per_device_train_batch_size": 32, "learning_rate": 2e-3},
        "source_budget": {"num_train_epochs": 2},
    }
    if cap:
        suite["max_train_samples"] = cap
    limits = {"sources": SOURCES, "targets": TARGETS, "fractions": FRACTIONS, "methods": METHODS}
    if size > len(limits.get(axis, range(size))):
        raise SystemExit(
            f"error: --sizes {size}: axis {axis} has at most {len(limits[axis])} values here"
        )
    if axis == "sources":
        suite["sources"] = SOURCES[:size]
    elif axis == "targets":
        suite["targets"] = TARGETS[:size]
    elif axis == "fractions":
        suite["fractions"] = FRACTIONS[:size]
    elif axis == "seeds":
        suite["seeds"] = list(range(size))
    else:
        suite["methods"] = dict(METHODS[:size])
    return suite


def measure(suite: dict[str, Any], root: Path) -> dict[str, Any]:
    from harness.records import find_records, read_record
    from harness.runner import SuiteRunner
    from harness.suites import expand, resolve_suite
    from harness.taskregistry import TaskRegistry

    shutil.rmtree(root, ignore_errors=True)
    registry = TaskRegistry()
    specs = expand(resolve_suite(suite, {}, "bench"), registry, "bench")
    runner = SuiteRunner(root / "out", cache_dir=root / "cache", registry=registry)
    started = time.perf_counter()
    outcome = runner.run(specs)
    seconds = time.perf_counter() - started
    if outcome.failed:
        raise SystemExit(f"error: {len(outcome.failed)} run(s) failed in suite {suite['name']}")
    records = [read_record(p) for p in find_records(root / "out")]
    probes = sum(r["spec"]["method"] == "feature_extraction" for r in records)
    counts = outcome.cache_counts
    return {
        "runs": len(specs),
        "seconds": seconds,
        "sources": counts["sources_miss"],
        "features": counts["features_miss"],
        "probes": probes,
        "full": len(records) - probes,
    }


def slope(sizes: list[int], seconds: list[float]) -> float:
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return (
        sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else float("nan")
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    import datasets
    import torch
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    os.environ["TQDM_DISABLE"] = "1"
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = sorted(set(args.sizes))
    if sizes[0] < 1:
        raise SystemExit("error: --sizes must be whole numbers >= 1")
    root = Path(tempfile.mkdtemp(prefix="tb-bench-grid-"))
    print(
        f"base: 1 source, 1 target, 1 fraction, 1 seed, feature_extraction; {args.backbone}, "
        f"{args.max_train_samples or 'all'} training rows, an empty cache per suite, "
        f"{args.threads or 'torch default'} thread(s)\n"
    )
    header = (
        f"{'axis':<10}{'size':>5}{'runs':>6}{'seconds':>9}{'x size 1':>9}"
        f"{'source trainings':>18}{'feature passes':>16}{'probes':>8}{'full trainings':>16}"
    )
    print(header)
    print("-" * len(header))
    summary = []
    try:
        for axis in args.axes:
            rows = []
            for size in sizes:
                m = measure(grown(axis, size, args.backbone, args.max_train_samples), root)
                rows.append(m)
                base = rows[0]["seconds"]
                print(
                    f"{axis:<10}{size:>5}{m['runs']:>6}{m['seconds']:>9.1f}{m['seconds'] / base:>9.2f}"
                    f"{m['sources']:>18}{m['features']:>16}{m['probes']:>8}{m['full']:>16}",
                    flush=True,
                )
            summary.append((axis, slope(sizes, [r["seconds"] for r in rows])))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'axis':<10}{'time ~ size^k, k':>18}  expected")
    for axis, k in summary:
        print(f"{axis:<10}{k:>18.2f}  {LAW[axis]}")


if __name__ == "__main__":
    main()
