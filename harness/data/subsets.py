"""Seeded subsets of a split: the target fraction a run trains on, and `--limit` samples.

Both are stratified by label for classification (every class keeps at least one row when
there are enough rows for that), depend on the labels and the seed only (not on the order
runs happen in, the process or any global random state), and come back as sorted row indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EVAL_SAMPLE_SEED = 0  # `--limit` samples of validation and test splits: the same rows for every run


def as_array(values: Sequence) -> np.ndarray:
    """Values as a numpy array. A `datasets` column (`ds["labels"]`, a lazy `Column`) is read
    through Arrow in one go: `np.asarray` iterates it row by row, at ~20 µs a row."""
    source, name = getattr(values, "source", None), getattr(values, "column_name", None)
    if name is not None and callable(getattr(source, "with_format", None)):
        column = source.with_format("arrow")[name]
        if hasattr(column, "to_numpy"):
            return np.asarray(column.to_numpy())
    return np.asarray(values)


def column_values(ds, name: str) -> list:
    """A `datasets` column's values as Python objects, read through Arrow in one go (iterating
    `ds[name]` formats each row on its own)."""
    column = ds.with_format("arrow")[name]
    return column.to_pylist() if hasattr(column, "to_pylist") else list(ds[name])


def _class_order(labels: np.ndarray, rng: np.random.Generator) -> dict:
    """Each class's rows in a seeded random order."""
    return {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}


def fraction_indices(
    labels: Sequence, fraction: float, seed: int, stratify: bool, among: Sequence[int] | None = None
) -> list[int]:
    """`fraction` of the rows (of `among`, default all rows): per class round(fraction × class
    size), at least one.

    For one seed, a smaller fraction's rows are a subset of a larger one's (each class is
    drawn from the same seeded order)."""
    rows = np.arange(len(labels)) if among is None else np.asarray(among, dtype=int)
    n = len(rows)
    if fraction >= 1.0:
        return sorted(rows.tolist())
    rng = np.random.default_rng(seed)
    if not stratify:
        return sorted(rows[rng.permutation(n)[: max(1, round(fraction * n))]].tolist())
    picked: list[int] = []
    for order in _class_order(as_array(labels)[rows], rng).values():
        picked.extend(rows[order[: max(1, round(fraction * len(order)))]].tolist())
    return sorted(int(i) for i in picked)


def largest_remainder(exact: np.ndarray, total: int) -> np.ndarray:
    """Whole counts summing to `total` (that `exact` sums to): each floored, then one more for
    the largest remainders (ties by position)."""
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts


def _allocate(sizes: list[int], k: int) -> list[int]:
    """Split k draws over classes of the given sizes in proportion (largest remainder), each
    class getting at least one while k allows, and none more than it has."""
    total = sum(sizes)
    if k >= total:
        return list(sizes)
    floor = 1 if k >= len(sizes) else 0
    quota = [k * s / total for s in sizes]
    take = [min(s, max(floor, int(q))) for s, q in zip(sizes, quota)]
    order = sorted(range(len(sizes)), key=lambda i: (-(quota[i] - int(quota[i])), i))
    while sum(take) > k:  # the at-least-one floors overshot: take back where most over quota
        i = max((j for j in range(len(sizes)) if take[j] > floor), key=lambda j: take[j] - quota[j])
        take[i] -= 1
    i = 0
    while sum(take) < k:
        j = order[i % len(order)]
        if take[j] < sizes[j]:
            take[j] += 1
        i += 1
    return take


def stratified_sample(
    labels: Sequence, k: int, seed: int, stratify: bool, among: Sequence[int] | None = None
) -> list[int]:
    """k seeded rows (of `among`, default all rows), in proportion to the classes."""
    rows = np.arange(len(labels)) if among is None else np.asarray(among, dtype=int)
    if k >= len(rows):
        return sorted(rows.tolist())
    rng = np.random.default_rng(seed)
    if not stratify:
        return sorted(rows[rng.permutation(len(rows))[:k]].tolist())
    sub = as_array(labels)[rows]
    by_class = _class_order(sub, rng)
    take = _allocate([len(v) for v in by_class.values()], k)
    picked = [rows[i] for order, t in zip(by_class.values(), take) for i in order[:t]]
    return sorted(int(i) for i in picked)
