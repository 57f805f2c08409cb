"""The statistics of similarity against realised gain, on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.correlation import correlate, correlation_table, rank_statistics


def _runs(gains: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"source": s, "target": t, "seed": i, "gain": g}
                         for (s, t), gs in gains.items() for i, g in enumerate(gs)])  # fmt: skip


def _scores(scores: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([{"source": s, "target": t, "score": v} for (s, t), v in scores.items()])


def test_rank_statistics_by_hand():
    frame = pd.DataFrame({"source": list("abcd"), "target": "t", "score": [1.0, 2, 3, 4],
                          "gain": [0.1, 0.3, 0.2, 0.4]})  # fmt: skip
    out = rank_statistics(frame)
    # pairs (i<j): ab+ ac+ ad+ bc- bd+ cd+ -> 5 concordant, 1 discordant: tau = (5-1)/6
    assert out["kendall_tau"] == pytest.approx(4 / 6)
    # gain ranks 1,3,2,4 against 1,2,3,4: sum d^2 = 2, rho = 1 - 6*2/(4*(16-1)) = 0.8
    assert out["spearman_rho"] == pytest.approx(0.8)
    assert out["per_target_tau"] == pytest.approx(4 / 6)  # one target
    assert out["top1"] == 1.0 and out["top3"] == 1.0  # d is best by both
    frame["score"] = [4.0, 3, 2, 1]  # the measure prefers a; d (the best) is its last choice
    out = rank_statistics(frame)
    assert out["top1"] == 0.0 and out["top3"] == 0.0 and out["kendall_tau"] == pytest.approx(-4 / 6)


def _family(noise: float, flip: bool = False, seed: int = 0):
    """3 targets x 6 sources, gain = relatedness + seed noise; the score is the relatedness."""
    rng = np.random.default_rng(seed)
    rel = [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    gains, scores = {}, {}
    for t in ("t1", "t2", "t3"):
        for i, r in enumerate(rel):
            gains[(f"s{i}", t)] = list(r + noise * rng.standard_normal(3))
            scores[(f"s{i}", t)] = -r if flip else r
    return _runs(gains), _scores(scores)


def test_a_perfect_measure_has_tau_one_and_a_small_p_value():
    runs, scores = _family(noise=0.0)
    c = correlate(runs, scores, n_boot=200, n_perm=200)
    assert c.value["kendall_tau"] == pytest.approx(1.0) and c.value[
        "per_target_tau"
    ] == pytest.approx(1.0)
    assert c.value["top1"] == 1.0 and c.value["top3"] == 1.0 and c.pairs == 18 and c.targets == 3
    assert c.p_value["kendall_tau"] < 0.01
    assert c.low["kendall_tau"] <= 1.0 <= c.high["kendall_tau"] + 1e-9


def test_a_reversed_measure_is_negative_and_not_significant():
    runs, scores = _family(noise=0.0, flip=True)
    c = correlate(runs, scores, n_boot=100, n_perm=200)
    assert c.value["kendall_tau"] == pytest.approx(-1.0) and c.value["top1"] == 0.0
    assert c.p_value["kendall_tau"] > 0.9


def test_noise_widens_the_interval_and_reruns_agree():
    runs, scores = _family(noise=0.3)
    a = correlate(runs, scores, n_boot=200, n_perm=100, seed=1)
    b = correlate(runs, scores, n_boot=200, n_perm=100, seed=1)
    assert a.row() == b.row()
    assert a.low["kendall_tau"] <= a.value["kendall_tau"] <= a.high["kendall_tau"]
    exact = correlate(*_family(noise=0.0), n_boot=200, n_perm=100, seed=1)
    width = lambda c: c.high["kendall_tau"] - c.low["kendall_tau"]  # noqa: E731
    assert width(a) > width(exact)


def test_correlation_table_orders_measures_by_tau():
    runs, good = _family(noise=0.1)
    _, bad = _family(noise=0.1, flip=True)
    table = correlation_table(runs, {"bad": bad, "good": good}, n_boot=50, n_perm=50)
    assert table["measure"].tolist() == ["good", "bad"]
    assert {"kendall_tau_low", "kendall_tau_high", "kendall_tau_p", "top1", "top3"} <= set(
        table.columns
    )


def test_pairs_a_measure_does_not_score_are_left_out_not_fatal():
    """LEEP has no value from a regression source: those pairs drop out, the rest still count."""
    runs, scores = _family(noise=0.0)
    full = correlate(runs, scores, n_boot=50, n_perm=50)
    holes = scores.copy()
    holes.loc[holes.index[:2], "score"] = float("nan")
    c = correlate(runs, holes, n_boot=50, n_perm=50)
    assert c.pairs == full.pairs - 2 and c.value["kendall_tau"] == pytest.approx(1.0)
