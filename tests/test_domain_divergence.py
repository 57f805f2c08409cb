"""Domain divergences as similarity measures: the proxy 𝒜-distance and MMD against cases
worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.similarity.measures.mmd import median_bandwidth, mmd2_unbiased, mmd_similarity
from harness.similarity.measures.proxy_a_distance import domain_error, proxy_a_distance
from harness.similarity.registry import TaskView, discover_measures


def test_mmd_of_two_two_point_samples_by_hand():
    """X = {0, 1}, Y = {2, 3}: pooled distances 1, 2, 3, 1, 2, 1, median σ = 1.5, so
    k(d) = exp(−d²/4.5); MMD²_u = k(1) + k(1) − 2·(2k(2) + k(3) + k(1))/4."""
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert median_bandwidth(x, y) == 1.5

    def k(d):
        return math.exp(-(d**2) / 4.5)

    expected = 2 * k(1) - 2 * (2 * k(2) + k(3) + k(1)) / 4
    assert mmd2_unbiased(x, y) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.722326, abs=1e-6)


def test_mmd_of_a_sample_with_itself_is_the_unbiased_estimate_below_zero():
    """X = Y = {0, 1}: σ = median(0, 0, 1, 1, 1, 1) = 1; MMD²_u = 2k(1) − (1 + 1 + 2k(1))/2 =
    k(1) − 1 with k(1) = exp(−1/2)."""
    x = np.array([[0.0], [1.0]])
    assert mmd2_unbiased(x, x) == pytest.approx(math.exp(-0.5) - 1, abs=1e-12)
    assert mmd2_unbiased(x, x, sigma=2.0) == pytest.approx(math.exp(-1 / 8) - 1, abs=1e-12)


def test_mmd_grows_with_the_shift_between_domains():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 4))
    views = [TaskView(f"s{s}", a + s, np.zeros(200, dtype=int)) for s in (0.0, 0.5, 2.0)]
    sims = [mmd_similarity(views[0], v) for v in views]
    assert sims[0] > sims[1] > sims[2]


def test_proxy_a_distance_by_hand():
    """Domain a: 200 rows at x = 0; domain b: 100 at 0 and 100 at 1. The best linear rule calls
    x = 0 domain a (2 of its 3 rows are) and x = 1 domain b, so its held-out error ε is the
    share of b's rows at 0 in the held-out half, and PAD = 2(1 − 2ε)."""
    from sklearn.model_selection import train_test_split

    a = np.zeros((200, 1))
    b = np.concatenate([np.zeros((100, 1)), np.ones((100, 1))])
    x = np.concatenate([a, b])
    y = np.repeat([0, 1], 200)
    _, x_out, _, y_out = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
    eps = np.mean((y_out == 1) & (x_out[:, 0] == 0))
    assert 0.2 < eps < 0.3
    assert domain_error(a, b) == pytest.approx(eps, abs=1e-12)
    assert proxy_a_distance(a, b) == pytest.approx(2 * (1 - 2 * eps), abs=1e-12)


def test_proxy_a_distance_of_separable_and_indistinguishable_domains():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 3))
    assert proxy_a_distance(a, a + 10.0) == 2.0  # separable: ε = 0
    same = proxy_a_distance(a, rng.normal(size=(300, 3)))
    assert 0.0 <= same < 0.3  # one distribution: ε near 1/2


def test_both_are_registered_pair_measures():
    reg = discover_measures()
    for name in ("proxy_a_distance", "mmd"):
        assert reg.get(name).kind == "pair" and reg.get(name).reference
