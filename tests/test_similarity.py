"""Similarity measures end to end: computed from the runs' caches, drawn, set against the
realised gain and the known relatedness of the graded synthetic families."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from suitekit import TEXT_BB, run, suite

from harness.analysis.gains import pair_gains
from harness.analysis.plots import draw_hinton, hinton_sizes
from harness.similarity.compute import SimilarityComputer, SimilaritySetup, as_matrix
from harness.similarity.truth import known_relatedness
from harness.taskregistry import TaskRegistry

GRADED = ["graded_text_target", "graded_text_r100", "graded_text_r040", "graded_text_r000"]


def test_hinton_square_area_is_proportional_to_the_magnitude():
    sizes = hinton_sizes(np.array([[1.0, -0.25], [0.0, np.nan]]))
    # side = 0.9 * sqrt(|v| / max): 0.9, 0.45 (a quarter of the area), 0, and NaN drawn as nothing
    assert sizes.ravel().tolist() == pytest.approx([0.9, 0.45, 0.0, 0.0])


def test_a_hinton_diagram_is_written_as_png_and_svg_with_both_signs(tmp_path):
    m = pd.DataFrame([[0.5, -0.2], [0.1, np.nan]], index=["a", "b"], columns=["x", "y"])
    png, svg = draw_hinton(m, tmp_path / "h", title="test")
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    text = svg.read_text()
    assert "#2166ac" in text and "#b2182b" in text  # blue positive, red negative squares


def test_the_graded_family_has_six_known_levels():
    reg = TaskRegistry()
    target = reg.get("graded_text_target")
    levels = [
        known_relatedness(target, reg.get(f"graded_text_r{k:03d}"))
        for k in (100, 80, 60, 40, 20, 0)
    ]
    assert levels == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.0], abs=1e-9)
    image = [
        known_relatedness(reg.get("graded_image_target"), reg.get(f"graded_image_r{k:03d}"))
        for k in (100, 80, 60, 40, 20, 0)
    ]
    assert image == sorted(image, reverse=True)  # ordered, as the generator makes them
    assert known_relatedness(target, reg.get("rte")) is None


def test_pair_gains_by_hand():
    def rec(score, sources, seed, variant="finetune"):
        spec = {
            "backbone": {"name": "b"},
            "sources": sources,
            "method": variant,
            "variant": variant,
            "method_config": {},
            "target": "t",
            "fraction": 0.2,
            "seed": seed,
            "budget": {},
            "source_budget": {},
            "source_seed": 0,
            "limit": None,
            "task_versions": {},
        }
        return {
            "run_id": f"{sources}{seed}",
            "status": "ok",
            "spec": spec,
            "primary_score": score,
            "primary_metric": "accuracy",
            "direction": "max",
        }

    records = [
        rec(0.5, [], 0),
        rec(0.6, [], 1),
        rec(0.8, ["a"], 0),
        rec(0.7, ["a"], 1),
        rec(0.9, ["a", "b"], 0),
    ]
    gains = pair_gains(records).sort_values("seed")
    # seed 0: 0.8 - 0.5; seed 1: 0.7 - 0.6; the a+b run (two sources) is not a pair
    assert gains["gain"].tolist() == pytest.approx([0.3, 0.1]) and set(gains["source"]) == {"a"}


class _ViewsComputer(SimilarityComputer):
    """A computer whose transfer views are given (each target's own view), trains nothing."""

    def __init__(self, views):
        from types import SimpleNamespace

        self.workspace = SimpleNamespace(register_corpus=lambda *args: None)
        self.setup = SimpleNamespace(backbone={})
        self.registry = SimpleNamespace(get=lambda name: SimpleNamespace(modality="text"))
        self.given = views

    def transfer_view(self, source, target):
        return self.given[target], None

    def floors(self, source, target):
        return {"floor_source_size": 10.0, "floor_source_score": 0.5}


def test_a_failing_measure_is_shown_as_failed_with_its_reason(tmp_path, monkeypatch, capsys):
    from harness.similarity.command import report_failures, write_matrices
    from harness.similarity.compute import failures
    from harness.similarity.registry import MEASURES, MeasureSpec, TaskView, discover_measures

    def singular(target, source_probs=None):
        if target.name == "clf":
            raise np.linalg.LinAlgError("Singular matrix")  # a ValueError: once a silent NaN
        return math.nan  # a NaN returned is a failure too

    discover_measures()
    spec = MeasureSpec(name="singular_measure", kind="transfer", fn=singular, description="fails")
    monkeypatch.setitem(MEASURES._entries, "singular_measure", spec)
    rng = np.random.default_rng(0)
    clf = TaskView("clf", rng.normal(size=(30, 4)), np.arange(30) % 3, "classification", 3)
    reg = TaskView("reg", rng.normal(size=(30, 4)), rng.normal(size=30), "regression", 0)
    views = {"clf": clf, "reg": reg}
    frames = _ViewsComputer(views).compute(["clf", "reg"], ["singular_measure", "hscore", "leep"])
    # in the computed results: NaN with status `failed` and the reason
    f = frames["singular_measure"].set_index("target")
    assert f["score"].isna().all() and (f["status"] == "failed").all()
    assert f.loc["clf", "reason"] == "LinAlgError: Singular matrix"
    assert f.loc["reg", "reason"] == "singular_measure returned NaN"
    # a measure that does not apply is missing, not failed: hscore on the regression target,
    # LEEP from a regression source (no source head probabilities) and to one
    h = frames["hscore"].set_index("target")
    assert h.loc["clf", "status"] == "ok" and math.isfinite(h.loc["clf", "score"])
    assert h.loc["reg", "status"] == "not applicable" and "regression" in h.loc["reg", "reason"]
    assert (frames["leep"]["status"] == "not applicable").all()
    assert set(failures(frames)["measure"]) == {"singular_measure"}
    # in the tables: the matrix csv reads `failed: <reason>` where a missing value is empty
    write_matrices(frames, tmp_path)
    m = pd.read_csv(tmp_path / "singular_measure.csv", index_col=0)
    assert m.loc["reg", "clf"] == "failed: LinAlgError: Singular matrix"
    assert m.loc["clf", "reg"] == "failed: singular_measure returned NaN"
    h = pd.read_csv(tmp_path / "hscore.csv", index_col=0)
    assert pd.isna(h.loc["clf", "reg"]) and math.isfinite(float(h.loc["reg", "clf"]))
    # and printed, with the reason, beside a failures.csv of every failed score
    capsys.readouterr()
    assert report_failures(frames, tmp_path) == [tmp_path / "failures.csv"]
    shown = capsys.readouterr().out
    assert "FAILED" in shown and "singular_measure" in shown and "Singular matrix" in shown
    assert "1 of 2 pairs" in shown and "hscore" not in shown
    assert len(pd.read_csv(tmp_path / "failures.csv")) == 2
    assert report_failures({"hscore": frames["hscore"]}, tmp_path / "none") == []


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    from harness.runner import SuiteRunner

    runner = SuiteRunner(tmp_path_factory.mktemp("out"), cache_dir=tmp_path_factory.mktemp("cache"))
    setup = SimilaritySetup(
        backbone={**TEXT_BB, "init": "pretrained"},
        limit=96,
        max_rows=96,
        source_budget={
            "num_train_epochs": 2,
            "per_device_train_batch_size": 32,
            "learning_rate": 2e-3,
        },
    )
    from dataclasses import asdict

    from harness.spec import Budget

    setup.source_budget = asdict(Budget.from_dict(setup.source_budget))
    cheap = [
        "frechet",
        "covariance",
        "mean_embedding",
        "mmd",
        "proxy_a_distance",
        "cka_linear",
        "logme",
        "leep",
        "nce",
        "hscore",
        "hscore_plain",
        "gbc",
        "knn_probe",
    ]
    frames = SimilarityComputer(runner, setup).compute(GRADED, cheap)
    return runner, frames


def test_pair_measures_are_symmetric_and_transfer_measures_skip_the_diagonal(computed):
    runner, frames = computed
    for name in ("frechet", "covariance", "mean_embedding", "mmd", "proxy_a_distance"):
        m = as_matrix(frames[name])
        assert m.shape == (4, 4) and np.allclose(m.to_numpy(), m.to_numpy().T), name
    assert as_matrix(frames["frechet"]).to_numpy().diagonal() == pytest.approx(0.0, abs=1e-6)
    transfer = ("logme", "leep", "nce", "hscore", "hscore_plain", "gbc", "knn_probe")
    for name in (*transfer, "cka_linear"):
        f = frames[name]
        assert len(f) == 12 and not (f["source"] == f["target"]).any(), name
        assert f["score"].map(math.isfinite).all() and (f["status"] == "ok").all(), (name, f)
    # each task trained once as a source (CKA's task models are those same encoders)
    assert runner.cache.counts["sources_miss"] == 4


def test_similarity_command_writes_matrices_and_pictures(tmp_path, run_main):
    out = tmp_path / "sim"
    proc = run_main(
        "similarity",
        "--tasks",
        ",".join(GRADED[:3]),
        "--measures",
        "frechet,mean_embedding,knn_probe",
        "--limit",
        "64",
        "--max_rows",
        "64",
        "--source_epochs",
        "1",
        "--output_dir",
        out,
        "--cache_dir",
        tmp_path / "cache",
        "--n_boot",
        "50",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("frechet", "mean_embedding", "knn_probe"):
        assert (out / f"{name}.csv").exists() and (out / f"hinton_{name}.png").stat().st_size > 1000
    # complete task x task matrices as clustered heatmaps, the task map, each task's covariance
    for name in (
        "heatmap_frechet_text",
        "heatmap_mean_embedding_text",
        "task_map_text",
        *(f"covariance_{t}" for t in GRADED[:3]),
    ):
        for ext in ("png", "svg"):
            assert (out / f"{name}.{ext}").stat().st_size > 1000, name
    assert not (out / "heatmap_knn_probe_text.png").exists()  # source -> target: no diagonal
    assert (
        "against the known relatedness" in proc.stdout and (out / "known_relatedness.csv").exists()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "graded_text_target"], "name at least two tasks"),
        (
            ["--tasks", "graded_text_target,graded_image_target"],
            "at least two tasks of one modality",
        ),
        (
            [
                "--tasks",
                "graded_text_target,graded_text_r100,graded_image_target",
                "--backbone",
                "bert-tiny",
            ],
            "mix modalities",
        ),
        (
            ["--tasks", "graded_text_target,graded_text_r100", "--measures", "logmee"],
            "Did you mean 'logme'",
        ),
        (["--tasks", "graded_text_target,no_such_task"], "unknown task 'no_such_task'"),
        (["--results", "nowhere"], "no config.yaml"),
    ],
)
def test_similarity_command_bad_input(args, message, tmp_path, capsys):
    from harness.cli import main

    code = main(["similarity", *args, "--output_dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o").exists()  # nothing computed, nothing written


def test_measures_against_realised_gain_after_a_suite(tmp_path, capsys):
    specs = suite(
        targets=["graded_text_target"],
        sources=["none", *GRADED[1:]],
        methods={"finetune": {}},
        fractions=[0.2],
        seeds=[0, 1],
        limit=96,
        budget={"num_train_epochs": 2, "learning_rate": 2e-3},
        source_budget={"num_train_epochs": 1},
    )
    import yaml

    out = tmp_path / "results"
    runner, outcome, _ = run(specs, out, tmp_path / "cache")
    assert not outcome.failed
    config = {
        "backbones": [TEXT_BB],
        "sources": ["none", *GRADED[1:]],
        "targets": ["graded_text_target"],
        "budget": {"num_train_epochs": 2, "learning_rate": 2e-3},
        "source_budget": {"num_train_epochs": 1},
        "limit": 96,
    }
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    from harness.cli import main

    code = main(
        [
            "similarity",
            "--results",
            str(out),
            "--measures",
            "mean_embedding,knn_probe,logme",
            "--max_rows",
            "96",
            "--cache_dir",
            str(tmp_path / "cache"),
            "--n_boot",
            "50",
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "similarity" / "correlation.csv")
    assert set(table["measure"]) == {
        "mean_embedding",
        "knn_probe",
        "logme",
        "floor_source_size",
        "floor_source_score",
    }
    assert {"kendall_tau", "kendall_tau_low", "kendall_tau_high", "top1"} <= set(table.columns)
    assert (out / "similarity" / "hinton_gain.png").exists()
    assert set(table["family"]) == {"text/classification"}
    shown = capsys.readouterr().out
    # beside each τ, the noise ceiling: τ between the realised gains of the two seeds
    assert "ceiling τ" in shown and "ceiling τ per target" in shown
    assert "noise ceiling (Kendall τ between seed replicates of the realised gain" in shown
    assert "target run's seed (0, 1;" in shown and "trained once (source_seed 0)" in shown
    assert (table["ceiling_seeds"] == 2).all() and "ceiling_per_target_tau" in table
    # recommend: ranks the suite's sources for the target by the family's best measure
    code = main(
        [
            "recommend",
            "--target",
            "graded_text_target",
            "--results",
            str(out),
            "--max_rows",
            "96",
            "--cache_dir",
            str(tmp_path / "cache"),
        ]
    )
    shown = capsys.readouterr().out
    assert "noise ceiling (Kendall τ between seed replicates" in shown
    best = table[~table["measure"].str.startswith("floor_")].dropna(subset=["kendall_tau"])
    best = best.sort_values("kendall_tau", ascending=False)["measure"].iloc[0]
    assert (
        code == 0 and f"ranked by {best}" in shown and "recommended source: graded_text_r" in shown
    )
    assert (
        "reliability: " in shown
        and "Kendall τ" in shown
        and "margin over knn_probe" in shown
        or best == "knn_probe"
    )
    # a target of no suite, without results: ranked by the default measure, reliability unknown
    code = main(
        [
            "recommend",
            "--target",
            "graded_text_r040",
            "--sources",
            "graded_text_r100,graded_text_r000",
            "--max_rows",
            "64",
            "--cache_dir",
            str(tmp_path / "cache2"),
        ]
    )
    shown = capsys.readouterr().out
    assert code == 0 and "ranked by logme" in shown and "reliability here is unknown" in shown


@pytest.mark.slow
def test_the_similarity_suite_has_a_measure_that_recovers_the_known_order(tmp_path):
    """`transferbench run --suite similarity` (which computes `similarity: all` after its runs):
    at least one measure ranks each target's six graded sources in their known order with
    Kendall τ >= 0.6 (averaged over the text and the image target). About 3 minutes on 2 cores."""
    out = tmp_path / "results"
    argv = [
        "run",
        "--suite",
        "similarity",
        "--output_dir",
        str(out),
        "--cache_dir",
        str(tmp_path / "cache"),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=1500
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "report" / "index.html").exists()
    truth = pd.read_csv(out / "similarity" / "known_relatedness.csv")
    assert truth["targets"].max() == 2 and truth["per_target_tau"].max() >= 0.6, truth
    correlation = pd.read_csv(out / "similarity" / "correlation.csv")
    assert set(correlation["family"]) == {"text/classification", "image/classification"}
    assert (out / "similarity" / "hinton_gain.svg").exists()


def test_recommend_shows_a_failed_source_as_failed_and_never_recommends_it():
    from harness.similarity.recommend import ranked_table

    ranked = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "source": ["a", "b", "c"],
            "score": [0.5, math.nan, math.nan],
            "status": ["ok", "failed", "not applicable"],
            "reason": ["", "LinAlgError: Singular matrix", "regression target"],
        }
    )
    table, best = ranked_table(ranked)
    assert best == "a" and "failed: LinAlgError: Singular matrix" in table
    assert "not applicable: regression target" in table and "nan" not in table.lower()
    all_failed = ranked.assign(status="failed", score=math.nan)
    assert ranked_table(all_failed)[1] is None


def test_the_tasks_of_a_suite_run_with_targets_on_the_command_line_are_names():
    """`transferbench run --suite quick --targets synth_text_near ...` (README) stores the
    string in config.yaml; the similarity step read it character by character ("unknown task
    's'") and the run ended without its leaderboard."""
    from harness.similarity.command import suite_tasks

    config = {"sources": ["none", "synth_text_anchor"], "targets": "synth_text_near,synth_text_far"}
    assert suite_tasks(config, "config.yaml") == [
        "synth_text_anchor",
        "synth_text_near",
        "synth_text_far",
    ]
    assert suite_tasks({"sources": "none", "targets": ["a", "b"]}, "c") == ["a", "b"]
