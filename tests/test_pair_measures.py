"""Pair similarity measures (`harness/similarity/measures/`): Fréchet, covariance, CKA, mean
embedding and Task2Vec. Hand-computed values (worked out in comments), invariances, and the
registry listing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.stats import ortho_group

from harness.similarity.measures.cka import linear_cka, rbf_cka
from harness.similarity.measures.covariance import covariance_matrix, covariance_similarity
from harness.similarity.measures.frechet import frechet_distance, gaussian_stats
from harness.similarity.measures.mean_embedding import mean_embedding
from harness.similarity.measures.task2vec import task2vec_distance, task2vec_embedding
from harness.similarity.registry import TaskView, discover_measures

PAIR_MEASURES = ("frechet", "covariance", "cka_linear", "cka_rbf", "mean_embedding", "task2vec")


def _view(name: str, x: np.ndarray, y: np.ndarray | None = None, k: int = 2) -> TaskView:
    y = np.zeros(len(x), dtype=int) if y is None else y
    return TaskView(name=name, features=x, labels=y, problem="classification", num_classes=k)


def _fn(name: str):
    return discover_measures().get(name).fn


# --- registry ---------------------------------------------------------------------------------


def test_registry_lists_the_pair_measures() -> None:
    reg = discover_measures()
    for name in PAIR_MEASURES:
        assert name in reg.names()
        spec = reg.get(name)
        assert spec.kind == "pair" and spec.reference and spec.description
    assert reg.get("cka_linear").cheap and not reg.get("cka_rbf").cheap
    assert not reg.get("task2vec").cheap


# --- Fréchet ----------------------------------------------------------------------------------


def test_frechet_hand_computed() -> None:
    # 1-D: N(0, 1) vs N(3, 4), i.e. sigma 1 vs 2: (0 - 3)² + (1 - 2)² = 9 + 1 = 10.
    assert frechet_distance([0.0], [[1.0]], [3.0], [[4.0]]) == pytest.approx(10.0)
    # Diagonal 2-D: mu (0, 0) vs (1, 2), C diag(1, 4) vs diag(9, 1) (sigmas (1, 2) vs (3, 1)):
    # ||dmu||² = 1 + 4 = 5; trace term = (1 - 3)² + (2 - 1)² = 4 + 1 = 5; total 10.
    d = frechet_distance(
        np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([9.0, 1.0])
    )
    assert d == pytest.approx(10.0)
    # gaussian_stats of rows {0, 2}: mean 1, unbiased variance ((0-1)² + (2-1)²) / 1 = 2.
    mu, cov = gaussian_stats(np.array([[0.0], [2.0]]))
    assert mu == pytest.approx([1.0]) and cov == pytest.approx(np.array([[2.0]]))


def test_frechet_matches_scipy_sqrtm_for_non_commuting_covariances() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    c1, c2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    s1 = np.real(sqrtm(c1))
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * np.real(sqrtm(s1 @ c2 @ s1)))
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-8)


def test_frechet_self_zero_symmetric_and_sign() -> None:
    rng = np.random.default_rng(1)
    xa = rng.normal(size=(50, 8))  # n > d
    xb = rng.normal(loc=0.5, scale=2.0, size=(30, 8))
    xc = rng.normal(size=(5, 8))  # rank-deficient covariance: still finite and >= 0
    fn = _fn("frechet")
    a, b, c = _view("a", xa), _view("b", xb), _view("c", xc)
    assert fn(a, a) == pytest.approx(0.0, abs=1e-9)
    assert fn(c, c) == pytest.approx(0.0, abs=1e-9)
    assert fn(a, b) == pytest.approx(fn(b, a), rel=1e-9)
    assert fn(a, b) < fn(a, a)  # similarity = -distance
    assert np.isfinite(fn(a, c)) and fn(a, c) <= 0.0


# --- covariance -------------------------------------------------------------------------------


def test_covariance_hand_computed() -> None:
    # <diag(1, 2), diag(3, 1)>_F = 1*3 + 2*1 = 5; norms sqrt(1 + 4) = sqrt(5), sqrt(9 + 1) =
    # sqrt(10); 5 / sqrt(50) = 1 / sqrt(2) = 0.70711.
    s = covariance_similarity(np.diag([1.0, 2.0]), np.diag([3.0, 1.0]))
    assert s == pytest.approx(1 / np.sqrt(2))
    # covariance_matrix of rows (0, 0), (2, 4): means (1, 2), deviations (-1, -2), (1, 2);
    # unbiased: sum of outer products / 1 = [[2, 4], [4, 8]].
    assert covariance_matrix(np.array([[0.0, 0.0], [2.0, 4.0]])) == pytest.approx(
        np.array([[2.0, 4.0], [4.0, 8.0]])
    )


def test_covariance_proportional_is_one_and_symmetric() -> None:
    rng = np.random.default_rng(2)
    c = np.cov(rng.normal(size=(40, 5)), rowvar=False)
    assert covariance_similarity(c, 3 * c) == pytest.approx(1.0)
    xa = rng.normal(size=(40, 5))
    xb = xa * np.sqrt(3.0) + 7.0  # covariance 3C, shifted mean: still 1
    fn = _fn("covariance")
    assert fn(_view("a", xa), _view("b", xb)) == pytest.approx(1.0)
    xc = rng.normal(size=(25, 5)) * np.array([5.0, 1, 1, 1, 0.1])
    s_ac = fn(_view("a", xa), _view("c", xc))
    assert s_ac == pytest.approx(fn(_view("c", xc), _view("a", xa)))
    assert 0.0 <= s_ac < 1.0


# --- CKA --------------------------------------------------------------------------------------


def test_linear_cka_hand_computed_3x2() -> None:
    # X = [[1, 0], [0, 1], [-1, -1]] (already centred); Y = [[2, 1], [1, 1], [0, 1]] centres to
    # Yc = [[1, 0], [0, 0], [-1, 0]] (= X projected on its first axis: a linear map).
    # X^T X = [[2, 1], [1, 2]], ||.||_F = sqrt(4 + 1 + 1 + 4) = sqrt(10).
    # Yc^T Yc = [[2, 0], [0, 0]], ||.||_F = 2.
    # Yc^T X = [[1*1 + (-1)(-1), 1*0 + (-1)(-1)], [0, 0]] = [[2, 1], [0, 0]], ||.||_F² = 5.
    # CKA = 5 / (2 sqrt(10)) = sqrt(10) / 4 = 0.790569.
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    y = np.array([[2.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    assert linear_cka(x, y) == pytest.approx(np.sqrt(10) / 4)
    assert linear_cka(y, x) == pytest.approx(np.sqrt(10) / 4)


def test_cka_invariant_to_orthogonal_and_isotropic_scaling_not_to_linear_maps() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 6))
    q = ortho_group.rvs(6, random_state=4)
    y = 2.0 * x @ q + 5.0  # rotation, isotropic scaling, translation
    assert linear_cka(x, y) == pytest.approx(1.0)
    assert rbf_cka(x, y) == pytest.approx(1.0)  # median bandwidth scales with the data
    # counter-example: an anisotropic (invertible) linear map changes CKA
    a = np.diag([1.0, 10.0, 1.0, 1.0, 1.0, 1.0])
    assert linear_cka(x, x @ a) < 0.9
    assert rbf_cka(x, x @ a) < 0.9
    z = rng.normal(size=(60, 3))  # unrelated representation: low
    assert linear_cka(x, z) < 0.3
    assert 0.0 <= rbf_cka(x, z) < 0.5 and rbf_cka(x, z, sigma=1.0) < 0.5


def test_cka_pair_fns_need_the_same_rows() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 4))
    a, b = _view("a", x), _view("b", x @ ortho_group.rvs(4, random_state=6))
    assert _fn("cka_linear")(a, b) == pytest.approx(1.0)
    assert _fn("cka_rbf")(a, b) == pytest.approx(1.0)
    short = _view("c", x[:10])
    for name in ("cka_linear", "cka_rbf"):
        with pytest.raises(ValueError, match="SAME rows"):
            _fn(name)(a, short)


# --- mean embedding ---------------------------------------------------------------------------


def test_mean_embedding_hand_computed() -> None:
    # means: a = ((1 + 3) / 2, (0 + 2) / 2) = (2, 1); b = ((0 + 2) / 2, (1 + 3) / 2) = (1, 2).
    # cosine = (2*1 + 1*2) / (sqrt(5) sqrt(5)) = 4 / 5 = 0.8.
    xa = np.array([[1.0, 0.0], [3.0, 2.0]])
    xb = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert mean_embedding(xa) == pytest.approx([2.0, 1.0])
    assert _fn("mean_embedding")(_view("a", xa), _view("b", xb)) == pytest.approx(0.8)
    # opposite means: -1; self: 1
    assert _fn("mean_embedding")(_view("a", xa), _view("n", -xa)) == pytest.approx(-1.0)
    assert _fn("mean_embedding")(_view("a", xa), _view("a", xa)) == pytest.approx(1.0)


# --- Task2Vec ---------------------------------------------------------------------------------


def test_task2vec_distance_hand_computed() -> None:
    # ea = (1, 3), eb = (3, 1): ea + eb = (4, 4); u = (1/4, 3/4), v = (3/4, 1/4).
    # u.v = 3/16 + 3/16 = 6/16; |u| = |v| = sqrt(10)/4, |u||v| = 10/16; cos = 6/10 = 0.6.
    # distance = 1 - 0.6 = 0.4.
    assert task2vec_distance(np.array([1.0, 3.0]), np.array([3.0, 1.0])) == pytest.approx(0.4)
    # proportional embeddings: u, v are constant vectors -> distance 0 (scale-invariant)
    e = np.array([0.5, 2.0, 1.0])
    assert task2vec_distance(e, 4 * e) == pytest.approx(0.0, abs=1e-12)


@pytest.fixture(scope="module")
def t2v_tasks() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n, d = 300, 12
    x = rng.normal(size=(n, d))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    noisy = y.copy()
    flip = rng.choice(n, n // 10, replace=False)  # 10% of labels flipped
    noisy[flip] = 1 - noisy[flip]
    unrelated = (x[:, 5] - x[:, 7] > 0).astype(int)
    return {"x": x, "y": y, "noisy": noisy, "unrelated": unrelated}


def test_task2vec_noisy_copy_is_closer_than_unrelated_task(t2v_tasks) -> None:
    x = t2v_tasks["x"]
    e = task2vec_embedding(x, t2v_tasks["y"], "classification", 2)
    e_noisy = task2vec_embedding(x, t2v_tasks["noisy"], "classification", 2)
    e_unrel = task2vec_embedding(x, t2v_tasks["unrelated"], "classification", 2)
    assert e.shape == (32 * x.shape[1],) and np.all(e >= 0) and e.sum() > 0
    assert task2vec_distance(e, e_noisy) < task2vec_distance(e, e_unrel)
    # deterministic for a seed
    np.testing.assert_array_equal(e, task2vec_embedding(x, t2v_tasks["y"], "classification", 2))
    # through the registry: similarity = -distance
    fn = _fn("task2vec")
    a = _view("a", x, t2v_tasks["y"])
    assert fn(a, a) == pytest.approx(0.0, abs=1e-12)
    assert fn(a, _view("n", x, t2v_tasks["noisy"])) > fn(a, _view("u", x, t2v_tasks["unrelated"]))


def test_task2vec_regression(t2v_tasks) -> None:
    rng = np.random.default_rng(8)
    x = t2v_tasks["x"]
    target = 2.0 * x[:, 0] + 0.1 * rng.normal(size=len(x))
    noisy = target + 0.3 * rng.normal(size=len(x))
    unrelated = 2.0 * x[:, 3]
    e = task2vec_embedding(x, target, "regression")
    assert task2vec_distance(e, task2vec_embedding(x, noisy, "regression")) < task2vec_distance(
        e, task2vec_embedding(x, unrelated, "regression")
    )
    # target scale does not matter (z-scored before fitting)
    assert task2vec_distance(e, task2vec_embedding(x, 100 * target + 3, "regression")) < 1e-6


# --- gradient cosine (read from multi-task records) ---------------------------------------------


def _mt_record(rid: str, cosines: dict, status: str = "ok") -> dict:
    return {"id": rid, "status": status, "extra": {"multitask": {"gradient_cosine_mean": cosines}}}


def test_gradient_cosine_by_hand() -> None:
    from harness.similarity.measures.gradient_cosine import gradient_cosine_frame

    spec = discover_measures().get("gradient_cosine")
    assert spec.kind == "recorded" and spec.fn is gradient_cosine_frame
    records = [
        _mt_record("r1", {"a|b": 0.5, "a|c": -0.2, "b|c": 0.1}),
        _mt_record("r2", {"a|b": 0.5, "a|c": -0.2, "b|c": 0.1}),  # the same phase, another target
        _mt_record("r3", {"a|b": 0.1}),  # another phase (another seed): averaged with the first
        _mt_record("r4", {"a|b": 9.0}, status="failed"),  # failed runs are ignored
        {"id": "r5", "status": "ok", "extra": {}},  # a single-task run: nothing to read
    ]
    frame = gradient_cosine_frame(records)
    score = {(s, t): v for s, t, v in frame.itertuples(index=False)}
    # a|b: phases {0.5, 0.1} -> 0.3 (r2 repeats r1's phase and is counted once)
    assert score[("a", "b")] == pytest.approx(0.3) and score[("b", "a")] == pytest.approx(0.3)
    assert score[("a", "c")] == pytest.approx(-0.2) and score[("c", "b")] == pytest.approx(0.1)
    assert len(frame) == 6
    assert gradient_cosine_frame([]).empty


@pytest.mark.parametrize(
    ("cosines", "message"), [({"ab": 0.1}, "is not 'a|b'"), ([0.1], "not a mapping")]
)
def test_gradient_cosine_bad_records_name_the_record(cosines, message) -> None:
    from harness.similarity.measures.gradient_cosine import gradient_cosine_frame

    with pytest.raises(ValueError, match=message) as info:
        gradient_cosine_frame([_mt_record("r9", cosines)])
    assert "r9" in str(info.value)
