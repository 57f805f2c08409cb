"""The training loop's data loaders: shuffled (or length-grouped) training batches, evaluation
batches in length order, and the DataLoader settings for a GPU."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from harness.spec import Budget


class LengthGroupedSampler(Sampler[int]):
    """Shuffle, then sort within mega-batches by length so each batch pads little."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, mega: int = 50):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega = mega
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        size = self.batch_size * self.mega
        chunks = [
            sorted(order[i : i + size], key=lambda j: -self.lengths[j])
            for i in range(0, len(order), size)
        ]
        batches = [
            c[i : i + self.batch_size] for c in chunks for i in range(0, len(c), self.batch_size)
        ]
        if not batches:
            return iter([])
        perm = torch.randperm(len(batches), generator=g).tolist()
        # the batch holding the longest row goes first (as in transformers' sampler): the run's
        # largest activations are allocated on a fresh heap, and an out-of-memory shows at once
        longest = max(range(len(batches)), key=lambda b: self.lengths[batches[b][0]])
        perm.remove(longest)
        return iter([i for b in [longest, *perm] for i in batches[b]])


def loader_options(dataset: Dataset, cuda: bool, processes: int = 1) -> dict[str, Any]:
    """DataLoader settings for a GPU: pinned host memory (the prepared loaders then copy each
    batch without waiting for it) and, for image rows (decoded from Arrow one by one), worker
    processes. On the CPU, none: batches are made in the main process."""
    if not cuda:
        return {}
    images = "pixel_values" in (getattr(dataset, "column_names", None) or ())
    workers = max(1, min(4, (os.cpu_count() or 2) // (2 * processes))) if images else 0
    return {"pin_memory": True, "num_workers": workers, "persistent_workers": workers > 0}


def make_train_loader(
    dataset: Dataset,
    collate: Callable,
    budget: Budget,
    seed: int,
    lengths: Sequence[int] | None,
    **options: Any,
) -> DataLoader:
    """Training batches, seeded: grouped by length (`group_by_length`, text) or shuffled."""
    if lengths is not None and budget.group_by_length:
        sampler = LengthGroupedSampler(lengths, budget.per_device_train_batch_size, seed)
        return DataLoader(
            dataset,
            batch_size=budget.per_device_train_batch_size,
            sampler=sampler,
            collate_fn=collate,
            **options,
        )
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=budget.per_device_train_batch_size,
        shuffle=True,
        collate_fn=collate,
        generator=g,
        **options,
    )


def eval_order(dataset: Dataset) -> list[int] | None:
    """The row order evaluation reads `dataset` in: by length for text (None: row order)."""
    lengths = None
    if sys.modules.get("datasets"):  # else `dataset` is no Arrow split (and may be uninstalled)
        from harness.preprocess import row_lengths

        lengths = row_lengths(dataset)
    return sorted(range(len(dataset)), key=lengths.__getitem__) if lengths else None


def make_eval_loader(
    dataset: Dataset, collate: Callable, budget: Budget, **options: Any
) -> DataLoader:
    """Evaluation batches in length order (text), so little padding is computed; predictions
    and references stay paired, so metrics don't depend on the order (`eval_order` gives it)."""
    return DataLoader(
        dataset,
        batch_size=budget.per_device_eval_batch_size,
        sampler=eval_order(dataset),
        collate_fn=collate,
        **options,
    )
