"""Issue #18, "the report draws a wrong picture", on hand-made inputs (no training): intervals cut
at the metric's range and marked when they rest on fewer than 3 seeds; correlation cells over
too few pairs to rank shown as such; `recommend`'s choice when no measure's evidence clears its
baselines; learning-curve tick labels that do not overlap. The report-wide checks (every
picture against its csv) are in `test_report.py`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.analysis.intervals import (
    CLIPPED_MARK,
    FEW_SEEDS_MARK,
    INTERVAL_NOTE,
    METRIC_RANGES,
    mean_interval,
    metric_range,
)
from harness.records import write_record


def rec(
    score,
    seed,
    *,
    variant="finetune",
    sources=(),
    metric="accuracy",
    target="synth_text_near",
    fraction=0.1,
    task_set=(),
):
    spec = {
        "backbone": {"name": "bert-tiny"},
        "sources": list(sources),
        "method": variant,
        "variant": variant,
        "method_config": {},
        "target": target,
        "fraction": fraction,
        "seed": seed,
        "budget": {"num_train_epochs": 3.0},
        "source_budget": {"num_train_epochs": 3.0},
        "source_seed": 0,
        "limit": None,
        "task_versions": {target: "v1", **{s: "v1" for s in sources}},
        "task_set": list(task_set),
    }
    run_id = f"{variant}-{'+'.join(sources) or 'none'}-{metric}-{fraction}-{seed}"
    return {
        "schema_version": 1,
        "run_id": run_id,
        "status": "ok",
        "spec": spec,
        "primary_metric": metric,
        "primary_score": score,
        "direction": "max",
        "comparable": True,
        "target_tags": [],
    }


T2 = stats.t.ppf(0.975, 1)  # 12.706: Student's t with one degree of freedom


def test_every_metric_has_a_range():
    from harness.metrics import METRICS

    assert set(METRICS) <= set(METRIC_RANGES), set(METRICS) - set(METRIC_RANGES)
    assert metric_range("accuracy") == (0.0, 1.0) and metric_range("mcc") == (-1.0, 1.0)
    assert metric_range("no such metric") == (-math.inf, math.inf)


def test_a_two_seed_accuracy_interval_is_cut_at_0_and_1_and_marked(tmp_path):
    """0.48 and 0.68: mean 0.58, s = 0.1414, half width 12.706 · 0.1414 / √2 = 1.2706, so
    Student's t gives [−0.6906, 1.8506]; the tables show [0, 1] with ‡ (cut) and † (2 seeds),
    with the footnote; aggregate.csv keeps the uncut bounds beside the cut ones."""
    from harness.analysis.leaderboard import build

    for seed, score in enumerate([0.48, 0.68]):
        write_record(rec(score, seed), tmp_path)
    board = build(tmp_path, tmp_path)
    half = T2 * np.std([0.48, 0.68], ddof=1) / math.sqrt(2)
    agg = pd.read_csv(tmp_path / "aggregate.csv").iloc[0]
    assert agg["ci_low"] == 0.0 and agg["ci_high"] == 1.0 and agg["ci_clipped"] and agg["few_seeds"]
    assert agg["ci_low_unclipped"] == pytest.approx(0.58 - half) == pytest.approx(-0.6906, abs=1e-4)
    assert agg["ci_high_unclipped"] == pytest.approx(0.58 + half)
    shown = f"[0.0000, 1.0000] {CLIPPED_MARK} {FEW_SEEDS_MARK}"
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert csv["95% CI"].tolist() == [shown]
    assert shown in board["text"] and INTERVAL_NOTE in board["text"]
    for fmt in ("md", "latex", "html"):
        assert (
            FEW_SEEDS_MARK + " the interval rests on fewer than 3 seeds"
            in (tmp_path / f"leaderboard.{fmt}").read_text()
        )


def test_three_seeds_inside_the_range_are_neither_cut_nor_marked(tmp_path):
    from harness.analysis.leaderboard import build

    for seed, score in enumerate([0.6, 0.7, 0.8]):
        write_record(rec(score, seed), tmp_path)
    board = build(tmp_path, tmp_path)
    assert "[0.4516, 0.9484]" in board["text"]
    assert FEW_SEEDS_MARK not in board["text"] and CLIPPED_MARK not in board["text"]
    assert INTERVAL_NOTE not in board["text"]


def test_an_mcc_interval_is_cut_at_minus_one_and_one():
    from harness.analysis.gains import aggregate, records_frame

    agg = aggregate(records_frame([rec(s, i, metric="mcc") for i, s in enumerate([-0.2, 0.4])]))
    r = agg.iloc[0]
    assert (r["ci_low"], r["ci_high"]) == (-1.0, 1.0) and r["ci_clipped"]
    assert r["ci_low_unclipped"] < -1 and r["ci_high_unclipped"] > 1
    assert mean_interval([-0.2, 0.4]).clip(metric_range("mcc")).clipped


def test_a_paired_difference_is_cut_at_twice_the_range():
    """Differences of accuracy lie in [−1, 1]: −0.4 and +0.4 over 2 seeds give ±5.08 uncut."""
    from harness.analysis.gains import paired_differences, records_frame
    from harness.analysis.leaderboard import paired_table

    records = [rec(0.5, s) for s in (0, 1)]
    records += [rec(s, i, variant="mtdnn", task_set=("a", "b")) for i, s in enumerate([0.1, 0.9])]
    paired = paired_differences(records_frame(records))
    r = paired.iloc[0]
    assert (r["ci_low"], r["ci_high"]) == (-1.0, 1.0) and r["ci_clipped"] and r["few_seeds"]
    assert r["ci_low_unclipped"] == pytest.approx(-T2 * 0.8 / math.sqrt(2) / math.sqrt(2))
    assert paired_table(paired)["Δ vs finetune"].iloc[0] == (
        f"+0.0000 [-1.0000, +1.0000] {CLIPPED_MARK} {FEW_SEEDS_MARK}"
    )


def test_the_submissions_board_cuts_and_marks_its_intervals():
    from harness.analysis.leaderboard_html import _cell
    from harness.analysis.ranking import ranked_table

    rows = [
        {
            "suite": "s",
            "condition": "c",
            "entry": e,
            "submission": who,
            "modality": "text",
            "backbone": "bb",
            "target": "t",
            "fraction": 1.0,
            "metric": "accuracy",
            "direction": "max",
            "method": e,
            "source": "none",
            "seed": seed,
            "score": score,
            "run_id": f"{e}{seed}",
        }
        for e, who, scores in (
            ("finetune", "baseline", [0.48, 0.68]),
            ("x", "team", [0.6, 0.7, 0.8]),
        )
        for seed, score in enumerate(scores)
    ]
    table = ranked_table(pd.DataFrame(rows)).set_index("entry")
    two, three = table.loc["finetune"], table.loc["x"]
    assert (two["ci_low"], two["ci_high"]) == (0.0, 1.0) and two["ci_clipped"] and two["few_seeds"]
    assert two["ci_low_unclipped"] < 0 and not three["ci_clipped"] and not three["few_seeds"]
    cell = _cell(two, "ci_low", True)
    assert f"[0.0000, 1.0000] {CLIPPED_MARK} {FEW_SEEDS_MARK}" in cell
    assert "[0.4516, 0.9484]</td>" in _cell(three, "ci_low", True)
    # and the text tables (md) the submissions board writes beside its page
    from harness.workflows.merge import text_table

    text = text_table(table.reset_index()).set_index("method")["95% CI"]
    assert text["finetune"] == f"[0.0000, 1.0000] {CLIPPED_MARK} {FEW_SEEDS_MARK}"
    assert text["x"] == "[0.4516, 0.9484]"


def _runs_and_scores(sources_per_target: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gains over two seeds and a measure that ranks each target's sources perfectly."""
    runs, scores = [], []
    for t, n in sources_per_target.items():
        for i in range(n):
            scores.append({"source": f"s{i}", "target": t, "score": float(i)})
            runs += [
                {"source": f"s{i}", "target": t, "seed": seed, "gain": 0.1 * i + 0.01 * seed}
                for seed in (0, 1)
            ]
    return pd.DataFrame(runs), pd.DataFrame(scores)


def test_too_few_pairs_to_rank_is_shown_as_such():
    """The within-target permutation test has Π nₜ! orderings: with 2 sources of one target its
    p is at least 1/2, so τ = +1.00 [+1.00, +1.00] says nothing; 4 sources (1/24) can rank."""
    from harness.analysis.correlation import ceiling_columns, correlation_table, min_p, rankable
    from harness.similarity.command import _readable

    assert min_p([2]) == 0.5 and min_p([3]) == pytest.approx(1 / 6) and min_p([2, 2]) == 0.25
    assert min_p([4]) == pytest.approx(1 / 24) and not rankable(0.25) and rankable(1 / 24)
    runs, scores = _runs_and_scores({"t": 2})
    few = correlation_table(runs, {"m": scores}, n_boot=20, n_perm=50)
    row = few.iloc[0]
    assert row["kendall_tau"] == pytest.approx(1.0) and row["min_p"] == 0.5 and not row["rankable"]
    shown = _readable(few).iloc[0]
    for col in ("Kendall τ", "weighted τ", "Spearman ρ", "τ per target", "ceiling τ"):
        assert shown[col] == "n/a: 2 pairs", (col, shown[col])
    assert shown["top-1"] == "n/a" and shown["top-3"] == "n/a"
    assert ceiling_columns(few, "kendall_tau") == ["n/a: 2 pairs"]
    # two targets of two sources: four pairs, still only 4 orderings (min p 0.25)
    runs, scores = _runs_and_scores({"t": 2, "u": 2})
    four = _readable(correlation_table(runs, {"m": scores}, n_boot=20, n_perm=50)).iloc[0]
    assert four["Kendall τ"] == "n/a: 4 pairs, min p 0.25"
    # one target of five sources: 120 orderings, the statistics are shown
    runs, scores = _runs_and_scores({"t": 5})
    table = correlation_table(runs, {"m": scores}, n_boot=20, n_perm=50)
    assert table["rankable"].iloc[0]
    assert _readable(table)["Kendall τ"].iloc[0].startswith("+1.00 [")


def _correlation(rows: list[tuple]) -> pd.DataFrame:
    """A `correlation.csv` of one family: (measure, τ, p, pairs, min p) per row."""
    return pd.DataFrame(
        [
            {
                "family": "text/classification",
                "measure": m,
                "kendall_tau": tau,
                "kendall_tau_low": tau - 0.2,
                "kendall_tau_high": min(tau + 0.2, 1.0),
                "kendall_tau_p": p,
                "pairs": pairs,
                "targets": 1,
                "min_p": mp,
                "rankable": mp < 0.05,
                "top1": 1.0,
                "top3": 1.0,
            }
            for m, tau, p, pairs, mp in rows
        ]
    )


def test_recommend_says_when_no_measure_clears_its_baselines_and_ranks_by_the_best_supported():
    """The quick suite: covariance at τ +1.00 over 2 pairs (p 0.489), every baseline tying it."""
    from harness.similarity.recommend import caution, choose_measure, reliability

    quick = _correlation(
        [
            ("covariance", 1.0, 0.489, 2, 0.5),
            ("frechet", 1.0, 0.489, 2, 0.5),
            ("knn_probe", 1.0, 0.489, 2, 0.5),
            ("floor_source_size", 1.0, 0.489, 2, 0.5),
            ("floor_source_score", 1.0, 0.489, 2, 0.5),
        ]
    )
    chosen, why = choose_measure(quick, "text/classification", set())
    assert chosen["measure"] == "knn_probe"  # a measure that only ties the baseline has no claim
    assert len(why) == 2 and why[1].startswith(
        "covariance, frechet (τ +1.00): n/a: 2 pairs, too few to rank"
    )
    assert "permutation p = 0.489" in why[1] and "knn_probe ties it (τ +1.00)" in why[1]
    said = caution("text/classification", chosen["measure"], why)
    assert said[0].startswith("caution: no measure's evidence clears its baselines")
    assert "still ranked by knn_probe" in said[-1] and "a guess" in said[-1]
    lines = reliability(quick, "text/classification", chosen)
    assert "is no evidence (n/a: 2 pairs)" in lines[0] and "100%" not in lines[0]
    # enough pairs, p < 0.05, but below the k-NN probe, which clears the floors: the probe ranks
    below = _correlation(
        [
            ("logme", 0.4, 0.01, 30, 1e-9),
            ("knn_probe", 0.6, 0.001, 30, 1e-9),
            ("floor_source_size", 0.2, 0.1, 30, 1e-9),
        ]
    )
    chosen, why = choose_measure(below, "text/classification", set())
    assert chosen["measure"] == "knn_probe" and why == []
    # ... and when the probe does not beat a floor either, nothing clears: said, then the best τ
    neither = _correlation(
        [
            ("logme", 0.4, 0.01, 30, 1e-9),
            ("knn_probe", 0.5, 0.001, 30, 1e-9),
            ("floor_source_size", 0.6, 0.001, 30, 1e-9),
        ]
    )
    chosen, why = choose_measure(neither, "text/classification", set())
    assert chosen["measure"] == "knn_probe" and why[0].startswith(
        "knn_probe (τ +0.50): floor_source_size beats it"
    )
    assert (
        "knn_probe beats it (τ +0.50)" in why[1]
        and "floor_source_size beats it (τ +0.60)" in why[1]
    )
    # a measure that clears them: no caution, ranked by the highest τ of those that do
    clears = _correlation(
        [
            ("logme", 0.7, 0.001, 30, 1e-9),
            ("frechet", 0.8, 0.2, 30, 1e-9),
            ("knn_probe", 0.3, 0.01, 30, 1e-9),
            ("floor_source_size", 0.1, 0.3, 30, 1e-9),
        ]
    )
    chosen, why = choose_measure(clears, "text/classification", set())
    assert chosen["measure"] == "logme" and why == []  # frechet's τ is higher, its p is not < 0.05
    assert "Kendall τ +0.70 [+0.50, +0.90]" in reliability(clears, "text/classification", chosen)[0]


def test_learning_curve_tick_labels_do_not_overlap():
    """The quick suite's fractions 0.05 and 0.5 on a log axis got matplotlib's minor-tick labels
    (2×10⁻², 3×10⁻², 4×10⁻², 6×10⁻² …), which overlapped; the axis now has a tick per fraction
    run, labelled as the fraction, turned and then thinned until no two labels touch (a crowded
    0.01 … 1 included)."""
    from harness.analysis.plots import _pyplot, learning_curve_figure

    fractions = [
        0.01,
        0.0125,
        0.015,
        0.02,
        0.025,
        0.03,
        0.04,
        0.05,
        0.06,
        0.1,
        0.2,
        0.3,
        0.5,
        0.7,
        1.0,
    ]
    g = pd.DataFrame(
        [
            {
                "variant": v,
                "sources": "none",
                "fraction": f,
                "mean": 0.5 + f / 3,
                "std": 0.02,
                "metric": "accuracy",
                "limit": None,
            }
            for v in ("finetune", "scratch")
            for f in fractions
        ]
    )
    for shown in (fractions, [0.05, 0.5], fractions[:6]):
        fig, data = learning_curve_figure(g[g["fraction"].isin(shown)], "t")
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        labels = [
            t
            for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
            if t.get_visible() and t.get_text()
        ]
        boxes = [t.get_window_extent(renderer) for t in labels]
        clashes = [
            (labels[i].get_text(), labels[j].get_text())
            for i in range(len(boxes))
            for j in range(i + 1, len(boxes))
            if boxes[i].overlaps(boxes[j])
        ]
        assert not clashes, (shown, clashes)
        texts = [t.get_text() for t in labels]
        assert texts[0] == f"{min(shown):g}" and texts[-1] == f"{max(shown):g}"
        assert set(texts) <= {f"{f:g}" for f in shown}  # fractions, not 10^x minor labels
        assert [x for line in data["lines"] for x in line["x"]] == sorted(shown) * 2
        _pyplot().close(fig)
