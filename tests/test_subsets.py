"""Target fractions and `--limit` samples: stratified, at least one row per class, seeded by
the run's seed and by nothing else."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from harness.data.subsets import fraction_indices, stratified_sample

# 1000 rows, 4 classes of 700 / 200 / 90 / 10, in sorted label order (as files often are)
LABELS = [0] * 700 + [1] * 200 + [2] * 90 + [3] * 10


def counts(rows, labels=LABELS):
    return Counter(labels[i] for i in rows)


def test_fraction_is_stratified():
    rows = fraction_indices(LABELS, 0.1, seed=0, stratify=True)
    assert counts(rows) == {0: 70, 1: 20, 2: 9, 3: 1}
    assert rows == sorted(set(rows))


def test_fraction_keeps_at_least_one_row_per_class():
    rows = fraction_indices(LABELS, 0.01, seed=0, stratify=True)
    assert counts(rows) == {0: 7, 1: 2, 2: 1, 3: 1}  # round(0.9) = 1 and round(0.1) -> at least 1


def test_fraction_depends_on_the_seed_and_only_on_it():
    a = fraction_indices(LABELS, 0.1, seed=0, stratify=True)
    np.random.seed(123)  # global random state must not matter
    import random

    random.seed(7)
    assert fraction_indices(LABELS, 0.1, seed=0, stratify=True) == a
    b = fraction_indices(LABELS, 0.1, seed=1, stratify=True)
    assert b != a and counts(b) == counts(a)
    # smaller fractions are nested in larger ones for the same seed
    assert set(fraction_indices(LABELS, 0.05, seed=0, stratify=True)) <= set(a)


def test_fraction_without_stratification_and_the_whole_split():
    rows = fraction_indices([0.5] * 100, 0.2, seed=3, stratify=False)
    assert len(rows) == 20 and rows != list(range(20))
    assert fraction_indices(LABELS, 1.0, seed=5, stratify=True) == list(range(1000))


def test_limit_sample_is_stratified_not_the_first_rows():
    rows = stratified_sample(LABELS, 100, seed=0, stratify=True)
    assert counts(rows) == {0: 70, 1: 20, 2: 9, 3: 1}  # the first 100 rows would all be class 0
    assert stratified_sample(LABELS, 100, seed=0, stratify=True) == rows
    assert stratified_sample(LABELS, 100, seed=1, stratify=True) != rows


def test_limit_sample_keeps_every_class_when_it_can():
    assert counts(stratified_sample(LABELS, 4, seed=0, stratify=True)) == {0: 1, 1: 1, 2: 1, 3: 1}
    # fewer rows than classes: in proportion (quotas 2.1, 0.6, 0.27, 0.03)
    assert counts(stratified_sample(LABELS, 3, seed=0, stratify=True)) == {0: 2, 1: 1}
    assert stratified_sample(LABELS, 5000, seed=0, stratify=True) == list(range(1000))


def test_limit_sample_of_a_fraction_stays_inside_it():
    frac = fraction_indices(LABELS, 0.5, seed=2, stratify=True)
    rows = stratified_sample(LABELS, 40, seed=2, stratify=True, among=frac)
    assert set(rows) <= set(frac) and len(rows) == 40
    # quotas 28, 8, 3.6, 0.4 of the fraction's 350/100/45/5 rows; class 3 keeps its one row
    assert counts(rows) == {0: 28, 1: 8, 2: 3, 3: 1}


@pytest.mark.parametrize("k", [1, 3, 7, 50, 333, 999])
def test_limit_sample_size_and_proportions(k):
    rows = stratified_sample(LABELS, k, seed=0, stratify=True)
    assert len(rows) == k and len(set(rows)) == k
    c = counts(rows)
    for cls, size in Counter(
        LABELS
    ).items():  # each class within one row of its quota (or its floor)
        assert c[cls] <= size
        assert abs(c[cls] - k * size / 1000) <= 1 or (k >= 4 and c[cls] == 1)


def test_fraction_of_given_rows_stays_inside_them_and_nests():
    pool = stratified_sample(LABELS, 300, seed=1, stratify=True)
    quarter = fraction_indices(LABELS, 0.25, seed=1, stratify=True, among=pool)
    half = fraction_indices(LABELS, 0.5, seed=1, stratify=True, among=pool)
    assert set(quarter) <= set(half) <= set(pool)
    assert len(quarter) == 75 and len(half) == 151  # per class: 105, 30, round(13.5), round(1.5)
    assert fraction_indices(LABELS, 1.0, seed=1, stratify=True, among=pool) == pool


def test_a_fraction_under_a_training_cap_is_a_fraction_of_the_capped_rows(tmp_path):
    """25 % of a 500-row split under a cap of 60 is about 15 rows inside fraction 1's 60, not the
    60 that capping 25 % of the split (125 rows) afterwards gave, the same size as 100 %."""
    from suitekit import suite

    from harness.runner import SuiteRunner
    from harness.spec import canonical_spec

    specs = suite(fractions=[0.25, 1.0], max_train_samples=60)
    runner = SuiteRunner(tmp_path / "out", cache_dir=tmp_path / "cache")
    runner.register_corpus(specs[0].backbone, ["synth_text_near"])
    rows = {s.fraction: runner.context(s).splits.train_indices for s in specs}
    assert len(rows[1.0]) == 60 and 14 <= len(rows[0.25]) <= 16  # rounded per class
    assert set(rows[0.25]) <= set(rows[1.0])
    # a capped fraction's identity names the rule, so records made under the old one differ
    quarter = next(s for s in specs if s.fraction == 0.25)
    assert canonical_spec(quarter.to_dict())["train_rows"] == "fraction of the capped rows"
    assert "train_rows" not in canonical_spec(next(s for s in specs if s.fraction == 1).to_dict())
    assert "train_rows" not in canonical_spec(suite(fractions=[0.25])[0].to_dict())
