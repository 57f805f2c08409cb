"""The statistics of similarity against realised gain, on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.analysis.correlation import (
    ceiling_columns,
    ceiling_summary,
    correlate,
    correlation_table,
    family_ceiling,
    noise_ceiling,
    rank_statistics,
    replicate_description,
)


def _runs(gains: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"source": s, "target": t, "seed": i, "gain": g}
            for (s, t), gs in gains.items()
            for i, g in enumerate(gs)
        ]
    )


def _scores(scores: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([{"source": s, "target": t, "score": v} for (s, t), v in scores.items()])


def test_rank_statistics_by_hand():
    frame = pd.DataFrame(
        {
            "source": list("abcd"),
            "target": "t",
            "score": [1.0, 2, 3, 4],
            "gain": [0.1, 0.3, 0.2, 0.4],
        }
    )
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


def _replicates() -> pd.DataFrame:
    """2 targets x 4 sources x 3 seeds (replicates), no ties within a replicate."""
    t1 = {
        "a": [0.40, 0.30, 0.40],
        "b": [0.30, 0.40, 0.30],
        "c": [0.20, 0.10, 0.10],
        "d": [0.10, 0.20, 0.20],
    }
    t2 = {
        "a": [0.15, 0.15, 0.25],
        "b": [0.25, 0.35, 0.15],
        "c": [0.35, 0.25, 0.35],
        "d": [0.45, 0.45, 0.45],
    }
    return _runs({**{(s, "t1"): g for s, g in t1.items()}, **{(s, "t2"): g for s, g in t2.items()}})


def test_noise_ceiling_by_hand():
    """Per target, τ between two replicates over the 4 sources (6 source pairs):
    t1: seeds 0/1 disagree on a-b and c-d: (4 − 2)/6 = 1/3; 0/2 on c-d: 2/3; 1/2 on a-b: 2/3.
    t2: seeds 0/1 disagree on b-c: 2/3; 0/2 on a-b: 2/3; 1/2 on a-b and b-c: 1/3.
    Mean over targets, then over the 3 pairs of replicates: (1/2 + 2/3 + 1/2) / 3 = 5/9.
    Over all 8 pairs: scipy's τ for each pair of replicates, averaged."""
    runs = _replicates()
    c = noise_ceiling(runs, n_boot=200)
    assert c.seeds == [0, 1, 2] and c.replicate_pairs == 3 and c.pairs == 8
    assert c.value["per_target_tau"] == pytest.approx(5 / 9)
    wide = runs.pivot_table(index=["target", "source"], columns="seed", values="gain")
    taus = [stats.kendalltau(wide[a], wide[b]).statistic for a, b in ((0, 1), (0, 2), (1, 2))]
    assert c.value["kendall_tau"] == pytest.approx(np.mean(taus))
    for s in ("kendall_tau", "per_target_tau"):
        assert c.low[s] <= c.value[s] <= c.high[s]
    assert noise_ceiling(runs, n_boot=200).row() == c.row()  # seeded: reruns agree
    two = noise_ceiling(runs[runs["seed"] < 2], n_boot=0)  # seeds 0 and 1 alone: (1/3 + 2/3) / 2
    assert two.replicate_pairs == 1 and two.value["per_target_tau"] == pytest.approx(1 / 2)
    # a perfect measure scores 1 against the seed mean, above this ceiling (see CEILING_CAVEAT)
    mean = runs.groupby(["source", "target"])["gain"].mean()
    perfect = _scores({(s, t): g for (s, t), g in mean.items()})
    row = correlation_table(runs, {"m": perfect}, n_boot=50, n_perm=10).iloc[0]
    assert row["per_target_tau"] == pytest.approx(1.0) and row["ceiling_seeds"] == 3
    assert row["ceiling_per_target_tau"] == pytest.approx(5 / 9)
    # a measure that scores a-c on t1 and a-b on t2 is read against the ceiling on those pairs:
    # t1 (3 sources) 1/3, 1, 1/3 and t2 (2 sources) 1, −1, −1 for seeds 0/1, 0/2, 1/2:
    # (2/3 + 0 − 1/3) / 3 = 1/9; the family's line keeps every pair (5/9)
    part = correlation_table(runs, {"m": perfect.iloc[:5]}, n_boot=20, n_perm=10)
    assert part["ceiling_pairs"].iloc[0] == 5
    assert part["ceiling_per_target_tau"].iloc[0] == pytest.approx(1 / 9)
    assert family_ceiling(part, runs, n_boot=20)["ceiling_per_target_tau"] == pytest.approx(5 / 9)


def test_with_one_seed_the_ceiling_is_not_available():
    runs = _replicates()
    one = runs[runs["seed"] == 0]
    c = noise_ceiling(one)
    assert c.seeds == [0] and all(np.isnan(v) for v in c.value.values())
    scores = _scores({("a", "t1"): 1.0, ("b", "t1"): 0.5, ("a", "t2"): 0.2, ("b", "t2"): 0.1})
    table = correlation_table(one, {"m": scores}, n_boot=20, n_perm=10)
    assert ceiling_columns(table, "kendall_tau") == ["n/a: 1 seed"]
    assert "n/a: 1 seed" in ceiling_summary(table.iloc[0])
    from harness.similarity.command import _readable

    shown = _readable(table)
    assert shown["ceiling τ"].tolist() == ["n/a: 1 seed"] and "ceiling τ per target" in shown


def test_the_ceiling_says_which_seeds_vary_and_reaches_the_report(tmp_path):
    from harness.analysis.report import write_report

    def rec(sources, seed, source_seed=0):
        spec = {"sources": sources, "method": "finetune", "seed": seed, "source_seed": source_seed}
        return {"status": "ok", "spec": spec}

    records = [rec([], 0), rec(["a"], 0), rec(["a"], 1), rec(["a"], 2), rec(["a", "b"], 5)]
    text = replicate_description(records, "finetune")
    assert "target run's seed (0, 1, 2" in text and "trained once (source_seed 0)" in text
    runs = _replicates()
    mean = runs.groupby(["source", "target"])["gain"].mean()
    scores = _scores({(s, t): g for (s, t), g in mean.items()})
    table = correlation_table(runs, {"m": scores}, n_boot=50, n_perm=10)
    table.insert(0, "family", "text/classification")
    table["ceiling_varies"] = text
    (tmp_path / "similarity").mkdir()
    table.to_csv(tmp_path / "similarity" / "correlation.csv", index=False)
    page = write_report(tmp_path).read_text()
    assert "<th>ceiling_kendall_tau</th>" in page and "<th>ceiling_per_target_tau</th>" in page
    assert "Noise ceiling, per family: text/classification: noise ceiling" in page
    assert "target run&#x27;s seed (0, 1, 2" in page and "+0.56 [" in page  # 5/9 per target


def test_a_seeds_runs_of_a_pair_are_one_replicate_in_the_matrix_intervals_and_tau(tmp_path):
    """a → t: seed 0 has two runs (0.1, 0.3: two fractions), seed 1 one (0.5); b → t: 0.32 on
    both seeds. Per seed, a's gain is 0.2 and 0.5, mean 0.35 > 0.32; the mean over runs, 0.30,
    ranks a below b. gain.csv used the runs' mean and gain_intervals.csv the seeds', so the
    matrix and its intervals disagreed, and τ reversed."""
    from harness.similarity.outputs import write_gain_pictures

    rows = [("a", 0, 0.1), ("a", 0, 0.3), ("a", 1, 0.5), ("b", 0, 0.32), ("b", 1, 0.32)]
    runs = pd.DataFrame([{"source": s, "target": "t", "seed": i, "gain": g} for s, i, g in rows])
    scores = _scores({("a", "t"): 1.0, ("b", "t"): 0.0})
    c = correlate(runs, scores, n_boot=20, n_perm=10)
    assert c.value["kendall_tau"] == pytest.approx(1.0)
    write_gain_pictures(runs, {}, tmp_path)
    matrix = pd.read_csv(tmp_path / "gain.csv", index_col="source")
    intervals = pd.read_csv(tmp_path / "gain_intervals.csv").set_index("source")
    assert matrix.loc["a", "t"] == pytest.approx(0.35) == intervals.loc["a", "gain"]
    assert intervals.loc["a", "seeds"] == 2 and matrix.loc["b", "t"] == pytest.approx(0.32)
    ceiling = noise_ceiling(runs, n_boot=0)
    assert ceiling.seeds == [0, 1]
