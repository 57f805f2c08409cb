"""Image input: the first pass (decode, resize, normalise, write the cache) against a cached pass.

The image pipeline turns a split into normalised `pixel_values` once per (task, split, image
size, normalisation) and keeps them as a memory-mapped Arrow file in the cache
(`harness.preprocess.encode_split`), as it does for tokenised text. Every later epoch, run and
method that uses the split reads those tensors: nothing is decoded again.

Measured in one process, alternated `--repeats` times, best of each side:

- first pass: `encode_split` on an empty cache (decode + resize + normalise + write), then
  one epoch of batches through the pipeline's collator (what a first epoch costs);
- cached pass: `encode_split` on the warm cache (a cache hit: open the Arrow file), then the
  same epoch of batches (what the second epoch and the second run cost);
- decode every epoch (the reference without a cache): decode + resize + normalise the rows of
  each batch as it is drawn.

Printed: images/s for each, and the ratios first pass / cached pass and decode-every-epoch /
cached pass. The cached pass is bounded by the loader (a row at a time through the collator),
so the ratio grows with the decode cost: larger images, larger target sizes.

    python bench/bench_image_cache.py                                     # synth_image_anchor
    python bench/bench_image_cache.py --task cifar10 --data_dir ../shared/data --image_size 64
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="synth_image_anchor", help="registered image task")
    p.add_argument("--backbone", default="resnet-tiny", help="image backbone (its size and stats)")
    p.add_argument(
        "--image_size", type=int, default=None, help="resize to this (default: the backbone's)"
    )
    p.add_argument("--rows", type=int, default=5000, help="training rows used (default 5000)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="alternating repeats, best of")
    p.add_argument("--data_dir", default=None, help="for tasks read from local files")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's choice)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    import datasets
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from harness.backbones import BackboneSpec
    from harness.cache import Cache
    from harness.data.loading import load_task
    from harness.preprocess import build_pipeline, encode_split, images_to_tensor
    from harness.taskregistry import TaskRegistry

    datasets.disable_progress_bars()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data_dir:
        os.environ["TRANSFERBENCH_DATA_DIR"] = str(Path(args.data_dir).resolve())
    card = TaskRegistry().get(args.task)
    if card.modality != "image":
        raise SystemExit(
            f"error: task '{args.task}' is {card.modality}; this benchmark needs an image task"
        )
    data = load_task(card, args.data_dir or os.environ.get("TRANSFERBENCH_DATA_DIR"))
    rows = min(args.rows, len(data.train))
    data.train = data.train.select(range(rows))
    spec = BackboneSpec(args.backbone, image_size=args.image_size, init="random")
    root = Path(tempfile.mkdtemp(prefix="tb-bench-images-"))
    accelerator = Accelerator(cpu=True)

    def epoch(ds, collate) -> int:
        n = 0
        for batch in DataLoader(ds, batch_size=args.batch_size, collate_fn=collate):
            n += len(batch["labels"])
        return n

    def first_and_cached() -> tuple[float, float]:
        folder = root / "cache"
        shutil.rmtree(folder, ignore_errors=True)
        cache = Cache(folder, accelerator)
        pipe = build_pipeline(spec, [data], cache)
        t0 = time.perf_counter()
        enc = encode_split(pipe, data, "train", cache)
        assert epoch(enc, pipe.collate) == rows
        first = time.perf_counter() - t0
        cache = Cache(folder, accelerator)  # a new run: only what is on disk
        t0 = time.perf_counter()
        enc = encode_split(pipe, data, "train", cache)
        assert epoch(enc, pipe.collate) == rows
        assert cache.counts["encoded_hit"] == 1 and not cache.counts["encoded_miss"], cache.counts
        return first, time.perf_counter() - t0

    def decode_every_epoch() -> float:
        pipe = build_pipeline(spec, [data], Cache(root / "cache", accelerator))
        col = card.inputs["image"]

        def collate(items):
            images = [it[col] for it in items]
            return {
                "pixel_values": images_to_tensor(images, pipe.image),
                "labels": torch.tensor([it["labels"] for it in items]),
            }

        t0 = time.perf_counter()
        assert epoch(data.train, collate) == rows
        return time.perf_counter() - t0

    first, cached, decode = [], [], []
    try:
        for _ in range(args.repeats):
            f, c = first_and_cached()
            first.append(f)
            cached.append(c)
            decode.append(decode_every_epoch())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    f, c, d = min(first), min(cached), min(decode)
    size = args.image_size or "backbone's"
    print(
        f"task {args.task}: {rows} training images, image size {size}, batch {args.batch_size}, "
        f"{args.threads or 'torch default'} thread(s), best of {args.repeats}"
    )
    print(f"{'pass':<34}{'seconds':>9}{'images/s':>11}")
    for name, t in (
        ("first (decode + write the cache)", f),
        ("cached (read the cache)", c),
        ("decode every epoch (no cache)", d),
    ):
        print(f"{name:<34}{t:>9.3f}{rows / t:>11.0f}")
    print(f"ratio first / cached: {f / c:.1f}x")
    print(f"ratio decode-every-epoch / cached: {d / c:.1f}x")


if __name__ == "__main__":
    main()
