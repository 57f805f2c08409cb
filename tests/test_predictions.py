"""Per-example predictions: the vectorised resampled metrics, the files, the paired bootstrap."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from harness.errors import DataError
from harness.metrics import compute_metric
from harness.metrics.resampled import on_resamples
from harness.predictions import (
    Predictions,
    load_predictions,
    paired_bootstrap,
    read_predictions,
    rescore,
    write_predictions,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "name,k", [("accuracy", 3), ("f1", 2), ("macro_f1", 3), ("mcc", 3), ("mcc", 2)]
)
def test_resampled_class_metrics_equal_the_metric_modules_on_each_resample(name, k):
    y = RNG.integers(0, k, 120)
    p = np.where(RNG.random(120) < 0.6, y, RNG.integers(0, k, 120))
    rows = RNG.integers(0, 120, (15, 120))
    expected = [compute_metric(name, p[r].tolist(), y[r].tolist()) for r in rows]
    assert on_resamples(name, p, y, rows) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", ["pearson", "spearman", "mse"])
def test_resampled_regression_metrics_equal_the_metric_modules(name):
    y = RNG.normal(size=80)
    p = y + RNG.normal(size=80)
    p[:8] = p[0]  # ties, for the ranks
    rows = RNG.integers(0, 80, (10, 80))
    expected = [compute_metric(name, p[r].tolist(), y[r].tolist()) for r in rows]
    assert on_resamples(name, p, y, rows) == pytest.approx(expected, rel=1e-6)


def test_resampled_f1_where_the_positive_class_is_absent_is_zero_as_sklearn():
    zeros = np.zeros(6, dtype=int)
    assert on_resamples("f1", zeros, zeros, np.arange(6)[None]) == [0.0]
    y, p = np.array([0, 0, 1]), np.array([0, 0, 0])  # macro over the labels present: (0.8 + 0) / 2
    assert on_resamples("macro_f1", p, y, np.arange(3)[None]) == pytest.approx([0.4])


def _pair(tmp_path, run, preds, refs):
    return read_predictions(
        tmp_path / write_predictions(tmp_path, run, range(len(refs)), preds, refs)
    )


def test_paired_bootstrap_hand_computed_cases(tmp_path):
    y = np.array([0, 1, 0, 1, 1, 0])
    right, wrong = _pair(tmp_path, "r", y, y), _pair(tmp_path, "w", 1 - y, y)
    # every resample of every seed: accuracy 1 against 0
    assert paired_bootstrap("accuracy", [(right, wrong)] * 3) == (1.0, 1.0, 1.0)
    assert paired_bootstrap("accuracy", [(right, right)]) == (0.0, 0.0, 0.0)
    # a differs from b on row 0 only: the difference of a resample is the share of row 0 in
    # it, 1/6 on average; its 95 % interval over 6-row resamples is [0, 3/6] (binomial(6, 1/6))
    a = _pair(tmp_path, "a", y, y)
    b = _pair(tmp_path, "b", np.array([1, 1, 0, 1, 1, 0]), y)
    mean, lo, hi = paired_bootstrap("accuracy", [(a, b)], resamples=4000)
    assert mean == pytest.approx(1 / 6) and lo == 0.0 and hi == pytest.approx(3 / 6)


def test_paired_bootstrap_refuses_runs_scored_on_other_rows(tmp_path):
    y = np.array([0, 1, 1])
    a = _pair(tmp_path, "a", y, y)
    b = Predictions("b", np.array([0, 1, 2]) + 1, y, y)
    with pytest.raises(ValueError, match="not scored on the same rows"):
        paired_bootstrap("accuracy", [(a, b)])


def test_predictions_files_round_trip_and_corrupt_ones_are_named(tmp_path):
    name = write_predictions(tmp_path, "run1", [4, 7], [0.5, 1.5], [1.0, 2.0])
    p = read_predictions(tmp_path / name)
    assert p.rows.tolist() == [4, 7] and p.score("mse") == pytest.approx(0.25)
    records = [{"run_id": "run1", "predictions": name}, {"run_id": "run2"}]
    assert set(load_predictions(tmp_path, records)) == {"run1"}
    (tmp_path / name).write_bytes(b"not gzip")
    with pytest.raises(DataError, match="corrupt predictions file"):
        read_predictions(tmp_path / name)
    with gzip.open(tmp_path / name, "wt") as fh:
        fh.write('{"run_id": "x", "rows": [1], "predictions": [1, 2], "references": [1]}')
    with pytest.raises(DataError, match="differ in length"):
        read_predictions(tmp_path / name)


def test_runs_store_their_predictions_in_row_order_and_they_rescore_to_the_record(tmp_path):
    """Each run's file re-scores to its record's metrics, its references are the scored split's
    labels in row order (evaluation reads it by length), and the leaderboard pairs with it."""
    from suitekit import BUDGET, FE, run, suite

    from harness.analysis.leaderboard import ROWS_INTERVAL, build
    from harness.runner import SuiteRunner

    specs = suite(
        methods={"finetune": {}, "feature_extraction": FE},
        seeds=[0, 1],
        max_test_samples=120,
        budget={**BUDGET, "num_train_epochs": 1},
    )
    _, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache")
    assert not outcome.failed
    found = load_predictions(tmp_path / "out", list(records.values()))
    assert set(found) == set(records)
    runner = SuiteRunner(tmp_path / "again", cache_dir=tmp_path / "cache")
    runner.register_corpus(specs[0].backbone, ["synth_text_near"])
    for run_id, record in records.items():
        p = found[run_id]
        for metric, value in record["metrics"].items():
            assert p.score(metric) == pytest.approx(value, abs=1e-12)
        ctx = runner.context(next(s for s in specs if s.id == run_id))
        assert p.rows.tolist() == ctx.splits.rows("test")
        assert p.references.tolist() == ctx.split("test")["labels"]
    board = build(tmp_path / "out")
    assert ROWS_INTERVAL in board["paired"].columns
    assert board["paired"][ROWS_INTERVAL].str.endswith("bs †").all()  # 2 seeds: marked
    # re-scored with another metric from the files alone: accuracy as recorded, macro F1 new
    table = rescore(tmp_path / "out", "accuracy")
    for _, row in table.iterrows():
        scores = [
            r["metrics"]["accuracy"]
            for r in records.values()
            if r["spec"]["variant"] == row["variant"]
        ]
        assert row["accuracy"] == pytest.approx(sum(scores) / len(scores), abs=1e-12)
    assert set(rescore(tmp_path / "out", "macro_f1")["seeds"]) == {2}
    assert rescore(tmp_path / "out", "pearson").attrs["not_applicable"] == len(records)


def test_rescore_command_names_bad_input(tmp_path, capsys):
    from harness.cli import main

    assert main(["rescore", "--results", str(tmp_path / "nope"), "--metric", "f1"]) == 2
    assert "no such results folder" in capsys.readouterr().err
    (tmp_path / "runs").mkdir()
    assert main(["rescore", "--results", str(tmp_path), "--metric", "nosuch"]) != 0
    assert "unknown metric 'nosuch'" in capsys.readouterr().err
