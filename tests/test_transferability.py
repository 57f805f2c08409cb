"""Transferability measures (source -> target): hand-computed values, rankings, signs and
argument order, and the registry. Every hand value is worked out step by step in a comment."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from harness.similarity.measures.gbc import gbc
from harness.similarity.measures.hscore import hscore
from harness.similarity.measures.knn_probe import knn_probe
from harness.similarity.measures.leep import leep
from harness.similarity.measures.logme import logme, logme_column, logme_evidence
from harness.similarity.measures.nce import nce
from harness.similarity.registry import TaskView, discover_measures

LOG_2PI = math.log(2 * math.pi)
TRANSFER = ("logme", "leep", "nce", "hscore", "gbc", "knn_probe")


def view(features: np.ndarray, labels: np.ndarray, regression: bool = False) -> TaskView:
    labels = np.asarray(labels)
    if regression:
        return TaskView("t", np.asarray(features, float), labels.astype(float), "regression", 0)
    return TaskView(
        "t", np.asarray(features, float), labels, "classification", int(labels.max()) + 1
    )


def measure(name: str):
    return discover_measures().get(name).fn


def separable(seed: int = 0, n: int = 60, d: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, a linearly separable 3-class target (by feature 0), and the same labels shuffled."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = np.digitize(x[:, 0], [-0.43, 0.43])  # three bands of feature 0
    x[:, 0] += 3.0 * y  # and pulled apart: a margin between the bands
    return x, y, rng.permutation(y)


def one_hot(z: np.ndarray, width: int) -> np.ndarray:
    return np.eye(width)[np.asarray(z)]


# ---------------------------------------------------------------------------------------- LogME


def test_logme_evidence_by_hand() -> None:
    # F = [[1], [2], [0]] (n=3, D=1), y = [1, 1, 0], alpha = beta = 1:
    #   F^T F = 5, A = alpha + beta * 5 = 6, m = beta A^-1 F^T y = 3 / 6 = 0.5
    #   F m - y = [-0.5, 0, 0] -> ||.||^2 = 0.25;  ||m||^2 = 0.25;  log|A| = log 6
    #   L = n/2 log beta + D/2 log alpha - beta/2 0.25 - alpha/2 0.25 - 1/2 log 6 - 3/2 log 2pi
    #     = -0.25 - 0.5 log 6 - 1.5 log 2pi = -3.902695334;  L / n = -1.300898445
    want = (-0.25 - 0.5 * math.log(6) - 1.5 * LOG_2PI) / 3
    assert want == pytest.approx(-1.300898445, abs=1e-9)
    assert logme_evidence(np.array([[1.0], [2.0], [0.0]]), [1, 1, 0], 1.0, 1.0) == pytest.approx(
        want, abs=1e-6
    )
    # D > n: F = [[1, 0, 0], [0, 1, 0]], y = [1, 0], alpha = 2, beta = 1:
    #   F^T F = diag(1, 1, 0), A = diag(3, 3, 2) -> log|A| = log 18 (the zero eigenvalue counts:
    #   log alpha; dropping it, as a truncated-SVD port can, would be off by 1/2 log 2)
    #   m = A^-1 F^T y = [1/3, 0, 0];  F m - y = [-2/3, 0] -> 4/9;  ||m||^2 = 1/9
    #   L = 0 + 3/2 log 2 - 1/2 * 4/9 - 2/2 * 1/9 - 1/2 log 18 - log 2pi
    #     = log(2/3) - 1/3 - log 2pi = -2.576675507;  L / n = -1.288337754
    want = (math.log(2 / 3) - 1 / 3 - LOG_2PI) / 2
    assert want == pytest.approx(-1.288337754, abs=1e-9)
    f = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert logme_evidence(f, [1, 0], 2.0, 1.0) == pytest.approx(want, abs=1e-6)


def _brute_force(f: np.ndarray, y: np.ndarray) -> float:
    """max over (log alpha, log beta) of the evidence by Nelder-Mead from several starts."""

    def neg(p: np.ndarray) -> float:
        return -logme_evidence(f, y, math.exp(p[0]), math.exp(p[1]))

    starts = ([0.0, 0.0], [3.0, -1.0], [-2.0, 2.0], [8.0, 0.5])
    opts = {"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000}
    return max(-minimize(neg, s, method="Nelder-Mead", options=opts).fun for s in starts)


@pytest.mark.parametrize(("n", "d", "where"), [(6, 2, "interior"), (4, 6, "beta=inf")])
def test_logme_fixed_point_finds_the_maximum(n: int, d: int, where: str) -> None:
    # (6, 2): a noisy target, the maximum is an interior stationary point (the fixed point);
    # (4, 6): n <= D, y is fit exactly and the supremum is the limit beta -> infinity
    rng = np.random.default_rng(0)
    f = rng.normal(size=(n, d))
    y = f[:, 0] + 0.3 * rng.normal(size=n)  # one target column (a regression target)
    best, alpha, beta = logme_column(f, y)
    assert best == pytest.approx(_brute_force(f, y), abs=1e-8)
    if where == "interior":
        assert math.isfinite(alpha) and math.isfinite(beta) and 0 < alpha and 0 < beta
        assert best == pytest.approx(logme_evidence(f, y, alpha, beta), abs=1e-12)
    else:
        assert beta == math.inf
        assert logme_evidence(f, y, alpha, 1e12) == pytest.approx(best, abs=1e-6)
    grid = np.logspace(-3, 6, 19)
    assert all(logme_evidence(f, y, a, b) <= best + 1e-12 for a in grid for b in grid)


def test_logme_maximum_at_alpha_infinity() -> None:
    # y orthogonal to the only feature: m = 0 is best, the supremum is alpha -> infinity with
    # beta = n / ||y||^2, L / n = 1/2 log(n / ||y||^2) - 1/2 - 1/2 log 2pi.
    # n = 4, y = [1, 1, 0, 0], f = [1, -1, 0, 0]: F^T y = 0; ||y||^2 = 2 -> 1/2 log 2 - 1/2 - ...
    f = np.array([[1.0], [-1.0], [0.0], [0.0]])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    best, alpha, _ = logme_column(f, y)
    want = 0.5 * math.log(2) - 0.5 - 0.5 * LOG_2PI  # = -1.072364943
    assert best == pytest.approx(want, abs=1e-9) and alpha == math.inf
    grid = np.logspace(-3, 6, 10)
    assert all(logme_evidence(f, y, a, b) <= best + 1e-12 for a in grid for b in grid)


def test_logme_classification_is_the_mean_over_one_hot_columns() -> None:
    x, y, _ = separable()
    cols = [logme_column(x, (y == c).astype(float))[0] for c in range(3)]
    assert logme(x, y) == pytest.approx(np.mean(cols), abs=1e-12)
    assert measure("logme")(view(x, y), None) == pytest.approx(logme(x, y), abs=1e-12)


def test_logme_ranks_separable_above_shuffled() -> None:
    x, y, shuffled = separable()
    assert logme(x, y) > logme(x, shuffled)
    rng = np.random.default_rng(1)
    target = x[:, 1] - 0.5 * x[:, 2] + 0.1 * rng.normal(size=len(x))
    assert logme(x, target, regression=True) > logme(x, rng.permutation(target), regression=True)
    fn = measure("logme")
    assert fn(view(x, target, regression=True), None) == pytest.approx(
        logme(x, target, regression=True)
    )


# ----------------------------------------------------------------------------------------- LEEP


def test_leep_by_hand() -> None:
    # theta (source probabilities) and target labels y:
    #   row 0: [1, 0]  y=0;  row 1: [1, 0]  y=0;  row 2: [.5, .5]  y=1;  row 3: [0, 1]  y=1
    # joint P(y, z) = sum of theta over rows of class y, / n=4:
    #   y=0: [2, 0] / 4 = [.5, 0];   y=1: [.5, 1.5] / 4 = [.125, .375]
    # P(z) = [.625, .375];  P(y|z=0) = [.8, .2],  P(y|z=1) = [0, 1]
    # EEP_i = sum_z P(y_i|z) theta_iz: row 0, 1: .8;  row 2: .5*.2 + .5*1 = .6;  row 3: 1
    # LEEP = (2 log .8 + log .6 + log 1) / 4 = (-0.446287103 - 0.510825624) / 4 = -0.239278182
    theta = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    assert leep(y, theta) == pytest.approx(-0.239278182, abs=1e-6)
    assert measure("leep")(view(np.zeros((4, 1)), y), theta) == pytest.approx(-0.239278182, 1e-6)
    # uninformative (uniform) probabilities: P(y|z) = P(y) = .5 -> LEEP = log .5 = -0.693147181
    assert leep(y, np.full((4, 3), 1 / 3)) == pytest.approx(-0.693147181, abs=1e-6)


def test_leep_informative_above_uniform_and_never_positive() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=50)
    z = (y * 2 + rng.integers(0, 2, size=50)) % 6  # each source class names one target class
    informative = 0.9 * one_hot(z, 6) + 0.1 / 6
    uniform = np.full((50, 6), 1 / 6)
    assert leep(y, informative) > leep(y, uniform)
    assert leep(y, one_hot(z, 6)) == pytest.approx(0.0, abs=1e-12)  # the maximum
    for seed in range(5):  # a log-likelihood: <= 0 (a sign-flipped port would be >= 0)
        r = np.random.default_rng(seed)
        assert leep(r.integers(0, 4, size=30), r.dirichlet(np.ones(5), size=30)) <= 0.0


def test_leep_argument_order_and_bad_inputs() -> None:
    y, theta = np.array([0, 0, 1, 1]), np.full((4, 2), 0.5)
    with pytest.raises(ValueError):
        leep(theta, y)  # swapped: probabilities are not labels, labels are not [n, Z]
    with pytest.raises(ValueError, match="rows must sum to 1"):
        leep(y, np.ones((4, 2)))  # logits / unnormalised scores
    fn = measure("leep")
    with pytest.raises(ValueError, match="source_probs"):
        fn(view(np.zeros((4, 1)), y), None)
    with pytest.raises(ValueError, match="regression"):
        fn(view(np.zeros((4, 1)), [0.1, 0.2, 0.3, 0.4], regression=True), theta)


# ------------------------------------------------------------------------------------------ NCE


def test_nce_by_hand() -> None:
    # z (source argmax) = [0, 0, 1, 1, 1], y (target) = [0, 1, 1, 1, 0]
    # z=0 (P=.4): y in {0, 1} -> P(y|z) = [.5, .5], H = log 2 = 0.693147181
    # z=1 (P=.6): y in {1, 1, 0} -> [1/3, 2/3], H = -(1/3 log 1/3 + 2/3 log 2/3) = 0.636514168
    # H(Y|Z) = .4 * 0.693147181 + .6 * 0.636514168 = 0.659167373 -> NCE = -0.659167373
    y, z = np.array([0, 1, 1, 1, 0]), np.array([0, 0, 1, 1, 1])
    assert nce(y, z) == pytest.approx(-0.659167373, abs=1e-6)
    fn = measure("nce")
    assert fn(view(np.zeros((5, 1)), y), one_hot(z, 2)) == pytest.approx(-0.659167373, abs=1e-6)


def test_nce_function_of_source_is_zero_and_order_matters() -> None:
    # y = z // 2 is a function of z: H(Y|Z) = 0 -> NCE = 0, the maximum.
    # Swapped, Z given Y: each y value has two z values, equally often -> -H(Z|Y) = -log 2.
    z, y = np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1])
    assert nce(y, z) == pytest.approx(0.0, abs=1e-12)
    assert nce(z, y) == pytest.approx(-math.log(2), abs=1e-6)
    fn = measure("nce")  # the same through the registered function: target first, source probs
    assert fn(view(np.zeros((4, 1)), y), one_hot(z, 4)) == pytest.approx(0.0, abs=1e-12)
    assert fn(view(np.zeros((4, 1)), z), one_hot(y, 2)) == pytest.approx(-math.log(2), abs=1e-6)


def test_nce_informative_above_uniform() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=60)
    informative = 0.8 * one_hot(y, 3) + 0.2 / 3
    # uniform probabilities: the argmax is always source class 0 -> NCE = -H(Y)
    uniform = np.full((60, 3), 1 / 3)
    fn = measure("nce")
    assert fn(view(np.zeros((60, 1)), y), informative) == pytest.approx(0.0, abs=1e-12)
    p = np.bincount(y) / 60
    assert fn(view(np.zeros((60, 1)), y), uniform) == pytest.approx(np.sum(p * np.log(p)))
    with pytest.raises(ValueError, match="source_probs"):
        fn(view(np.zeros((60, 1)), y), None)
    with pytest.raises(ValueError, match="regression"):
        fn(view(np.zeros((4, 1)), [0.5, 1.5, 2.5, 3.5], regression=True), np.full((4, 2), 0.5))


# -------------------------------------------------------------------------------------- H-score


def test_hscore_by_hand() -> None:
    # f = [0, 2, 4, 6], y = [0, 0, 1, 1] (1/n covariances; the 1/n cancels):
    #   cov f = ((-3)^2 + 1 + 1 + 3^2) / 4 = 5;  E[f|y] = [1, 1, 5, 5] -> cov g = 16 / 4 = 4
    #   H = 4 / 5 = 0.8
    f1 = np.array([[0.0], [2.0], [4.0], [6.0]])
    y = np.array([0, 0, 1, 1])
    assert hscore(f1, y) == pytest.approx(0.8, abs=1e-6)
    # add f2 = [2, 0, 0, -2] (class means 1, -1):
    #   cov f = [[5, -3], [-3, 2]] (cov12 = (-3*2 + 3*-2) / 4 = -3), det 1, inverse [[2, 3], [3, 5]]
    #   g = [[1, 1], [1, 1], [5, -1], [5, -1]] -> cov g = [[4, -2], [-2, 1]]
    #   tr(inv(cov f) cov g) = 2*4 + 3*(-2) + 3*(-2) + 5*1 = 1 (= C - 1, the largest possible)
    f2 = np.array([[0.0, 2.0], [2.0, 0.0], [4.0, 0.0], [6.0, -2.0]])
    assert hscore(f2, y) == pytest.approx(1.0, abs=1e-6)
    assert measure("hscore")(view(f2, y), None) == pytest.approx(1.0, abs=1e-6)


def test_hscore_ranks_separable_above_shuffled() -> None:
    x, y, shuffled = separable()
    assert hscore(x, y) > hscore(x, shuffled)
    assert hscore(x, y, shrinkage=True) > hscore(x, shuffled, shrinkage=True)
    wide = np.hstack([x, np.random.default_rng(2).normal(size=(60, 100))])  # d > n: pseudo-inverse
    assert 0.0 <= hscore(wide, shuffled) <= 2.0 + 1e-9 and 0.0 <= hscore(wide, y) <= 2.0 + 1e-9
    with pytest.raises(ValueError, match="regression"):
        measure("hscore")(view(x, x[:, 0], regression=True), None)


# ------------------------------------------------------------------------------------------ GBC


def test_gbc_by_hand() -> None:
    # class 0 rows [0, 2]: mean 1, variance 1;  class 1 rows [3, 5]: mean 4, variance 1
    #   s = 1;  D_B = 1/8 (4 - 1)^2 / 1 + 1/2 log(1 / sqrt(1 * 1)) = 9/8
    #   GBC = -(BC(0,1) + BC(1,0)) = -2 exp(-9/8) = -0.649304934
    y = np.array([0, 0, 1, 1])
    assert gbc(np.array([[0.0], [2.0], [3.0], [5.0]]), y) == pytest.approx(-0.649304934, abs=1e-6)
    # class 1 rows [3, 7] instead: mean 5, variance 4;  s = (1 + 4) / 2 = 2.5
    #   D_B = 1/8 * 16 / 2.5 + 1/2 log(2.5 / sqrt(1 * 4)) = 0.8 + 0.5 log 1.25 = 0.911571776
    #   GBC = -2 exp(-0.911571776) = -0.803784086
    f = np.array([[0.0], [2.0], [3.0], [7.0]])
    assert gbc(f, y) == pytest.approx(-0.803784086, abs=1e-6)
    assert measure("gbc")(view(f, y), None) == pytest.approx(-0.803784086, abs=1e-6)


def test_gbc_ranks_separable_above_shuffled() -> None:
    x, y, shuffled = separable()
    assert gbc(x, y) > gbc(x, shuffled)
    assert gbc(x, y) <= 0.0
    wide = np.hstack([x, 0.1 * np.random.default_rng(3).normal(size=(60, 95))])  # PCA to 64
    assert gbc(wide, y) > gbc(wide, shuffled)
    with pytest.raises(ValueError, match="regression"):
        measure("gbc")(view(x, x[:, 0], regression=True), None)


# ------------------------------------------------------------------------------------ k-NN probe


def test_knn_probe_by_hand() -> None:
    # two tight clusters, 3 rows per class: 3 stratified folds, k = min(5, 3 - 1) = 2; each held-out
    # row's two nearest training rows are its own class -> accuracy 1
    f = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    assert knn_probe(f, np.array([0, 0, 0, 1, 1, 1])) == pytest.approx(1.0, abs=1e-12)
    # unit square, diagonal corners share a class: 2 stratified folds, k = 1; a held-out corner's
    # training rows are its diagonal twin (distance sqrt 2) and an other-class neighbour
    # (distance 1), so every prediction is wrong, whatever the folds -> accuracy 0
    square = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert knn_probe(square, np.array([0, 0, 1, 1])) == pytest.approx(0.0, abs=1e-12)
    # regression, y = [0, 1, 2, 3]: 4 folds = leave-one-out, k = min(5, 3) = 3 -> predicts the
    # mean of the other three: [2, 5/3, 4/3, 1]; residuals [-2, -2/3, 2/3, 2] -> SS_res = 80/9
    # SS_tot = 2.25 + .25 + .25 + 2.25 = 5 -> R^2 = 1 - 16/9 = -7/9 = -0.777777778
    got = knn_probe(square, np.array([0.0, 1.0, 2.0, 3.0]), regression=True)
    assert got == pytest.approx(-7 / 9, abs=1e-6)


def test_knn_probe_ranks_separable_above_shuffled() -> None:
    x, y, shuffled = separable()
    fn = measure("knn_probe")
    assert fn(view(x, y), None) > fn(view(x, shuffled), None)
    assert fn(view(x, y), None) == knn_probe(x, y)  # seeded: the same folds every time
    target = x[:, 0] + 0.1 * x[:, 1]
    perm = np.random.default_rng(4).permutation(target)
    assert fn(view(x, target, regression=True), None) > fn(view(x, perm, regression=True), None)


# ------------------------------------------------------------------------------------- registry


def test_registry_lists_the_transfer_measures() -> None:
    reg = discover_measures()
    for name in TRANSFER:
        spec = reg.get(name)
        assert spec.kind == "transfer" and spec.cheap and callable(spec.fn)
        assert spec.reference and spec.description
        assert spec.needs_source_probs == (name in ("leep", "nce"))
    assert "baseline" in reg.get("knn_probe").description
