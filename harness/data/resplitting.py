"""Cutting loaded splits: a card's `resplit` of one split, the held-out validation split, and
the check that every class has training rows."""

from __future__ import annotations

import logging

import datasets

from harness.cards import TaskCard
from harness.data.subsets import as_array, largest_remainder
from harness.errors import DataError

logger = logging.getLogger("harness.data.loading")  # the name its messages have always carried

MIN_ROWS_PER_CLASS = 5  # a training split this size that misses a class misses it for a reason


def _classes_without_training_rows(
    card: TaskCard, train: datasets.Dataset, dropped: dict[str, int]
) -> str | None:
    """The error when a class of the card has no training row: a model cannot learn it, and
    the usual cause is labels counted from 1 read as positions from 0 (class K's rows dropped
    as out of range, every other class shifted by one)."""
    present = set(as_array(train["labels"]).tolist())
    missing = [name for i, name in enumerate(card.label_names) if i not in present]
    if not missing:
        return None
    k = len(card.label_names)
    off_by_one = card.label_offset is None and dropped and set(dropped) == {str(k)}
    hint = (
        f" The rows dropped as out of range all have label {k}, the end of 1..{k}: the labels count "
        f"from 1; set label_offset: 1."
        if off_by_one
        else ""
    )
    message = (
        f"task '{card.name}': class(es) {missing} have no training row (of {len(train)}); a model "
        f"cannot learn them.{hint} Check label_names, label_map and label_offset."
    )
    if off_by_one or len(train) >= MIN_ROWS_PER_CLASS * k:
        return message
    # a split this small may simply not hold every class (a sample, a fixture): said, not fatal
    logger.warning("%s (the split has fewer than %d rows per class)", message, MIN_ROWS_PER_CLASS)
    return None


def resplit(card: TaskCard, ds: datasets.Dataset) -> dict[str, datasets.Dataset]:
    """Cut one split into the card's `resplit` fractions: seeded and stratified by class (each
    class is shuffled and cut at the same fractions, rounding by largest remainder)."""
    import numpy as np

    roles = [r for r in ("train", "validation", "test") if r in card.resplit]
    fractions = np.array([float(card.resplit[r]) for r in roles])
    rng = np.random.default_rng(int(card.resplit.get("seed", 0)))
    labels = as_array(ds["labels"])
    groups = (
        [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if card.has_classes
        else [np.arange(len(ds))]
    )
    rows: dict[str, list[int]] = {r: [] for r in roles}
    for group in groups:
        group = rng.permutation(group)
        counts = largest_remainder(fractions * len(group), len(group))
        for role, chunk in zip(roles, np.split(group, np.cumsum(counts)[:-1])):
            rows[role].extend(chunk.tolist())
    for role in roles:
        if not rows[role]:
            raise DataError(
                f"task '{card.name}': resplit leaves split '{role}' empty ({len(ds)} rows in all)"
            )
    return {role: ds.select(sorted(rows[role])) for role in roles}


def holdout(
    card: TaskCard, train: datasets.Dataset, seed: int = 0
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split train into (train, validation) with the card's validation fraction."""
    n_val = max(1, int(round(len(train) * card.validation_fraction)))
    if len(train) - n_val < 1:
        raise DataError(
            f"task '{card.name}': train split has {len(train)} rows, too few to hold out a validation split"
        )
    stratify = card.has_classes and n_val >= card.num_labels
    if stratify and isinstance(train.features.get("labels"), datasets.ClassLabel):
        import numpy as np
        from datasets.arrow_dataset import stratified_shuffle_split_generate_indices

        # `train_test_split(stratify_by_column=...)`'s own split, with the labels read through
        # Arrow in one go (it reads them row by row); tests/test_fast_paths.py checks the rows
        labels = as_array(train["labels"])
        rng = np.random.default_rng(seed)
        try:
            kept, held = next(
                stratified_shuffle_split_generate_indices(labels, len(train) - n_val, n_val, rng)
            )
            return train.select(kept), train.select(held)
        except ValueError:  # a class with a single row can't be stratified
            pass
    parts = train.train_test_split(test_size=n_val, seed=seed)
    return parts["train"], parts["test"]
