"""Transferability measures (source -> target): hand-computed values, rankings, signs and
argument order, and the registry. Every hand value is worked out step by step in a comment."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from harness.similarity.measures.gbc import gbc
from harness.similarity.measures.hscore import hscore, hscore_plain
from harness.similarity.measures.knn_probe import knn_probe
from harness.similarity.measures.leep import leep
from harness.similarity.measures.logme import logme, logme_column, logme_evidence
from harness.similarity.measures.nce import nce
from harness.similarity.registry import TaskView, discover_measures

LOG_2PI = math.log(2 * math.pi)
TRANSFER = ("logme", "leep", "nce", "hscore", "hscore_plain", "gbc", "knn_probe")


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
    assert leep(target_labels=y, source_probs=theta) == pytest.approx(-0.239278182, abs=1e-6)
    assert measure("leep")(view(np.zeros((4, 1)), y), theta) == pytest.approx(-0.239278182, 1e-6)
    # uninformative (uniform) probabilities: P(y|z) = P(y) = .5 -> LEEP = log .5 = -0.693147181
    uniform = np.full((4, 3), 1 / 3)
    assert leep(target_labels=y, source_probs=uniform) == pytest.approx(-0.693147181, abs=1e-6)


def test_leep_informative_above_uniform_and_never_positive() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=50)
    z = (y * 2 + rng.integers(0, 2, size=50)) % 6  # each source class names one target class
    informative = 0.9 * one_hot(z, 6) + 0.1 / 6
    uniform = np.full((50, 6), 1 / 6)
    assert leep(target_labels=y, source_probs=informative) > leep(
        target_labels=y, source_probs=uniform
    )
    best = leep(target_labels=y, source_probs=one_hot(z, 6))
    assert best == pytest.approx(0.0, abs=1e-12)  # the maximum
    for seed in range(5):  # a log-likelihood: <= 0 (a sign-flipped port would be >= 0)
        r = np.random.default_rng(seed)
        y_r, theta_r = r.integers(0, 4, size=30), r.dirichlet(np.ones(5), size=30)
        assert leep(target_labels=y_r, source_probs=theta_r) <= 0.0


def test_leep_argument_order_and_bad_inputs() -> None:
    y, theta = np.array([0, 0, 1, 1]), np.full((4, 2), 0.5)
    with pytest.raises(ValueError):
        leep(target_labels=theta, source_probs=y)  # swapped: probabilities are not labels
    with pytest.raises(ValueError, match="rows must sum to 1"):
        leep(target_labels=y, source_probs=np.ones((4, 2)))  # logits / unnormalised scores
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
    assert nce(target_labels=y, source_labels=z) == pytest.approx(-0.659167373, abs=1e-6)
    fn = measure("nce")
    assert fn(view(np.zeros((5, 1)), y), one_hot(z, 2)) == pytest.approx(-0.659167373, abs=1e-6)


def test_nce_function_of_source_is_zero_and_order_matters() -> None:
    # y = z // 2 is a function of z: H(Y|Z) = 0 -> NCE = 0, the maximum.
    # Swapped, Z given Y: each y value has two z values, equally often -> -H(Z|Y) = -log 2.
    z, y = np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1])
    assert nce(target_labels=y, source_labels=z) == pytest.approx(0.0, abs=1e-12)
    assert nce(target_labels=z, source_labels=y) == pytest.approx(-math.log(2), abs=1e-6)
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


def test_leep_and_nce_take_keywords_only() -> None:
    # the reference code takes (source, target), the reverse of the old positional order here:
    # a positional call is refused rather than silently read either way
    y, theta, z = np.array([0, 0, 1, 1]), np.full((4, 2), 0.5), np.array([0, 1, 0, 1])
    with pytest.raises(TypeError):
        leep(y, theta)
    with pytest.raises(TypeError):
        leep(theta, target_labels=y)
    with pytest.raises(TypeError):
        nce(y, z)
    with pytest.raises(TypeError):
        nce(z, target_labels=y)
    assert leep(source_probs=theta, target_labels=y) == pytest.approx(math.log(0.5))
    assert nce(source_labels=z, target_labels=y) == pytest.approx(-math.log(2))


# -------------------------------------------------------------------------------------- H-score


def test_plain_hscore_by_hand() -> None:
    # f = [0, 2, 4, 6], y = [0, 0, 1, 1] (1/n covariances; the 1/n cancels):
    #   cov f = ((-3)^2 + 1 + 1 + 3^2) / 4 = 5;  E[f|y] = [1, 1, 5, 5] -> cov g = 16 / 4 = 4
    #   H = 4 / 5 = 0.8
    f1 = np.array([[0.0], [2.0], [4.0], [6.0]])
    y = np.array([0, 0, 1, 1])
    assert hscore_plain(f1, y) == pytest.approx(0.8, abs=1e-6)
    # add f2 = [2, 0, 0, -2] (class means 1, -1):
    #   cov f = [[5, -3], [-3, 2]] (cov12 = (-3*2 + 3*-2) / 4 = -3), det 1, inverse [[2, 3], [3, 5]]
    #   g = [[1, 1], [1, 1], [5, -1], [5, -1]] -> cov g = [[4, -2], [-2, 1]]
    #   tr(inv(cov f) cov g) = 2*4 + 3*(-2) + 3*(-2) + 5*1 = 1 (= C - 1, the largest possible)
    f2 = np.array([[0.0, 2.0], [2.0, 0.0], [4.0, 0.0], [6.0, -2.0]])
    assert hscore_plain(f2, y) == pytest.approx(1.0, abs=1e-6)
    assert measure("hscore_plain")(view(f2, y), None) == pytest.approx(1.0, abs=1e-6)
    # (4 rows, 2 dims: rows <= d + 1 already, so C - 1 = 1 is what any labels would give)


# f: 6 rows x 2 dims, y: 3 classes of 2 rows; f is centred (column sums 0) and has diagonal
# 1/n covariance, so the hand computation below stays in small fractions
SMALL_F = np.array([[2.0, 1.0], [4.0, -1.0], [-1.0, 2.0], [-1.0, 0.0], [-2.0, -1.0], [-2.0, -1.0]])
SMALL_Y = np.array([0, 0, 1, 1, 2, 2])


def test_shrinkage_hscore_by_hand() -> None:
    # By hand (1/n covariances, n = 6, d = 2):
    #   column sums: 2+4-1-1-2-2 = 0, 1-1+2+0-1-1 = 0 (centred already)
    #   Σ = f^T f / 6: (4+16+1+1+4+4)/6 = 5, (1+1+4+0+1+1)/6 = 4/3, (2-4-2+0+2+2)/6 = 0
    #     -> Σ = diag(5, 4/3);  σ = tr Σ / d = (5 + 4/3) / 2 = 19/6
    #   class means: [3, 0], [-1, 1], [-2, -1] -> Σ_b = (2 [3,0][3,0]^T + 2 [-1,1][-1,1]^T
    #     + 2 [-2,-1][-2,-1]^T) / 6 = [[9+1+4, 0-1+2], [., 0+1+1]] / 3 = [[14/3, 1/3], [1/3, 2/3]]
    #   α = 1/2: Σ_α = diag(5/2 + 19/12, 2/3 + 19/12) = diag(49/12, 27/12)
    #   H_α = tr(Σ_α^-1 (1/2) Σ_b) = 1/2 (14/3 * 12/49 + 2/3 * 12/27) = 1/2 (8/7 + 8/27)
    #       = 4/7 + 4/27 = 136/189 = 0.719576720
    want = 136 / 189
    f, y = SMALL_F, SMALL_Y
    # the same with numpy, step by step from the definition (not through the implementation)
    n, d = f.shape
    fc = f - f.mean(axis=0)
    cov = fc.T @ fc / n
    means = np.stack([fc[y == c].mean(axis=0) for c in y])  # E[f | y] row by row
    cov_b = means.T @ means / n
    alpha = 0.5
    shrunk = (1 - alpha) * cov + alpha * np.trace(cov) / d * np.eye(d)
    assert np.allclose(cov, np.diag([5, 4 / 3])) and np.allclose(
        cov_b, [[14 / 3, 1 / 3], [1 / 3, 2 / 3]]
    )
    assert np.trace(np.linalg.inv(shrunk) @ ((1 - alpha) * cov_b)) == pytest.approx(want, abs=1e-12)
    assert hscore(f, y, alpha=0.5) == pytest.approx(want, abs=1e-9)
    # the same data shifted and scaled: unchanged
    assert hscore(1e-3 * f + 7.0, y, alpha=0.5) == pytest.approx(want, abs=1e-9)
    # α = 0 is the plain H-score; α = 1 leaves nothing of the between-class covariance
    assert hscore(f, y, alpha=0.0) == pytest.approx(hscore_plain(f, y), abs=1e-9)
    assert hscore(f, y, alpha=1.0) == pytest.approx(0.0, abs=1e-12)
    # the measure: α from sklearn's Ledoit-Wolf estimate of these features
    from sklearn.covariance import ledoit_wolf

    lw_alpha = float(ledoit_wolf(f)[1])
    assert 0.0 < lw_alpha < 1.0
    assert hscore(f, y) == pytest.approx(hscore(f, y, alpha=lw_alpha), abs=1e-12)
    assert measure("hscore")(view(f, y), None) == pytest.approx(hscore(f, y), abs=1e-12)


def test_hscore_is_not_c_minus_1_whatever_the_labels_when_rows_are_few() -> None:
    # rows <= d + 1: the plain H-score is C - 1 = 2 for any labels, even random ones on noise;
    # the registered `hscore` (shrinkage) is not, and it tells the labels apart
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 16))
    informative = np.repeat([0, 1, 2], 4)
    x[:, 0] += 4.0 * informative  # the classes are apart along feature 0
    scores = []
    for labels in (informative, rng.permutation(informative), rng.integers(0, 3, size=12)):
        assert hscore_plain(x, labels) == pytest.approx(2.0, abs=1e-6)  # the degeneracy
        score = measure("hscore")(view(x, labels), None)
        assert 0.0 <= score < 2.0 - 0.1
        scores.append(score)
    assert scores[0] > max(scores[1:])
    # pure noise, 64 dimensions: the plain score grows with d / n (it favours wide encoders),
    # the shrinkage one stays near 0 at 128 rows as at 1,024
    plain, shrunk = [], []
    for n in (1024, 128):
        noise, labels = rng.normal(size=(n, 64)), rng.integers(0, 3, size=n)
        plain.append(hscore_plain(noise, labels))
        shrunk.append(measure("hscore")(view(noise, labels), None))
    assert plain[1] > 0.5 and plain[1] > 4 * plain[0]
    assert max(shrunk) < 0.1


def test_hscore_ranks_separable_above_shuffled() -> None:
    x, y, shuffled = separable()
    assert hscore(x, y) > hscore(x, shuffled)
    assert hscore_plain(x, y) > hscore_plain(x, shuffled)
    wide = np.hstack([x, np.random.default_rng(2).normal(size=(60, 100))])  # d > n
    for fn in (hscore, hscore_plain):
        assert 0.0 <= fn(wide, shuffled) <= 2.0 + 1e-9 and 0.0 <= fn(wide, y) <= 2.0 + 1e-9
    assert hscore(wide, y) > hscore(wide, shuffled)
    for name in ("hscore", "hscore_plain"):
        with pytest.raises(ValueError, match="regression"):
            measure(name)(view(x, x[:, 0], regression=True), None)


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


@pytest.mark.parametrize("d", [5, 100])
def test_gbc_is_unchanged_by_scaling_the_features(d: int) -> None:
    # the variance floor is relative to the features' scale: x 0.001 once moved GBC from about
    # -0.0007 to -10.7 (every class variance fell under an absolute floor of 1e-4)
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2], 40)
    x = rng.normal(size=(120, d))
    x[:, 0] += 6.0 * y
    x[:, 1] -= 3.0 * y
    x[:, 2] = 1.0  # a constant dimension: the floor is used
    base = gbc(x, y)
    assert -2.0 < base < 0.0
    for scale in (1e-3, 1e3):
        assert gbc(scale * x, y) == pytest.approx(base, rel=1e-6), scale
        assert measure("gbc")(view(scale * x, y), None) == pytest.approx(base, rel=1e-6), scale


def test_gbc_projects_features_of_any_width() -> None:
    # every width goes through the same PCA (once skipped at <= 64 dimensions), so diagonal
    # Gaussians are fitted in the principal axes and a rotation of the features changes nothing
    x, y, _ = separable(d=5)
    q = np.linalg.qr(np.random.default_rng(6).normal(size=(5, 5)))[0]
    assert gbc(x @ q, y) == pytest.approx(gbc(x, y), rel=1e-9)
    with pytest.raises(ValueError, match="constant"):
        gbc(np.ones((6, 3)), np.array([0, 0, 0, 1, 1, 1]))


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
