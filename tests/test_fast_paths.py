"""Paths made fast for the test run and the similarity tables (#19), each checked against the
slow path it replaced: Kendall's τ-b against scipy to the bit and a hand-computed case, a
`datasets` column read through Arrow, and a CPU training that ends without a full garbage
collection."""

from __future__ import annotations

import gc
import math

import datasets
import numpy as np
import pytest
from scipy import stats

from harness.analysis.kendall import kendall_tau_b
from harness.data.subsets import as_array, stratified_sample
from harness.runner import make_accelerator
from harness.training import release_prepared


def test_kendall_tau_b_by_hand():
    # 6 pairs, 5 concordant and 1 discordant (2 ↔ 3): (5 − 1) / 6
    assert kendall_tau_b(np.array([1, 2, 3, 4.0]), np.array([1, 3, 2, 4.0])) == pytest.approx(4 / 6)
    # a tie in x: pairs (0,1) tied in x, (0,2) and (1,2) concordant: 2 / √(2 · 3)
    assert kendall_tau_b(np.array([1, 1, 2.0]), np.array([1, 2, 3.0])) == pytest.approx(
        2 / math.sqrt(6)
    )
    assert math.isnan(kendall_tau_b(np.array([1, 1, 1.0]), np.array([1, 2, 3.0])))


def test_kendall_tau_b_equals_scipy_to_the_bit_with_ties():
    rng = np.random.default_rng(0)
    for t in range(500):
        n = int(rng.integers(2, 25))
        x = rng.integers(0, int(rng.integers(1, 6)), n).astype(float)
        y = rng.normal(size=n) if t % 2 else rng.integers(0, 4, n).astype(float)
        ours, theirs = kendall_tau_b(x, y), stats.kendalltau(x, y).statistic
        assert (math.isnan(ours) and math.isnan(theirs)) or ours == theirs, (x, y)


def test_a_datasets_column_is_read_whole_and_samples_alike():
    ds = datasets.Dataset.from_dict({"labels": [i % 3 for i in range(300)], "x": list(range(300))})
    sub = ds.select(range(1, 300, 2))  # an indices mapping, as a capped split has
    column = sub["labels"]
    assert as_array(column).tolist() == [row["labels"] for row in sub]
    assert stratified_sample(column, 30, 0, True) == stratified_sample(list(column), 30, 0, True)


def test_a_cpu_training_ends_without_a_full_garbage_collection(monkeypatch):
    acc = make_accelerator()
    acc._models.append(object())
    acc.step = 5

    def collect(*args, **kwargs):
        raise AssertionError("gc.collect called")

    monkeypatch.setattr(gc, "collect", collect)
    release_prepared(acc)
    assert not acc._models and acc.step == 0
