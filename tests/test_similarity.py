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
    image = [known_relatedness(reg.get("graded_image_target"), reg.get(f"graded_image_r{k:03d}"))
             for k in (100, 80, 60, 40, 20, 0)]  # fmt: skip
    assert image == sorted(image, reverse=True)  # ordered, as the generator makes them
    assert known_relatedness(target, reg.get("rte")) is None


def test_pair_gains_by_hand():
    def rec(score, sources, seed, variant="finetune"):
        spec = {"backbone": {"name": "b"}, "sources": sources, "method": variant, "variant": variant, "method_config": {},
                "target": "t", "fraction": 0.2, "seed": seed, "budget": {}, "source_budget": {}, "source_seed": 0,
                "limit": None, "task_versions": {}}  # fmt: skip
        return {"run_id": f"{sources}{seed}", "status": "ok", "spec": spec, "primary_score": score,
                "primary_metric": "accuracy", "direction": "max"}  # fmt: skip

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


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    from harness.runner import SuiteRunner

    runner = SuiteRunner(tmp_path_factory.mktemp("out"), cache_dir=tmp_path_factory.mktemp("cache"))
    setup = SimilaritySetup(backbone={**TEXT_BB, "init": "pretrained"}, limit=96, max_rows=96,
                            source_budget={"num_train_epochs": 2, "per_device_train_batch_size": 32,
                                           "learning_rate": 2e-3})  # fmt: skip
    from dataclasses import asdict

    from harness.spec import Budget

    setup.source_budget = asdict(Budget.from_dict(setup.source_budget))
    cheap = ["frechet", "covariance", "mean_embedding", "cka_linear", "logme", "leep", "nce", "hscore", "gbc",
             "knn_probe"]  # fmt: skip
    frames = SimilarityComputer(runner, setup).compute(GRADED, cheap)
    return runner, frames


def test_pair_measures_are_symmetric_and_transfer_measures_skip_the_diagonal(computed):
    runner, frames = computed
    for name in ("frechet", "covariance", "mean_embedding"):
        m = as_matrix(frames[name])
        assert m.shape == (4, 4) and np.allclose(m.to_numpy(), m.to_numpy().T), name
    assert as_matrix(frames["frechet"]).to_numpy().diagonal() == pytest.approx(0.0, abs=1e-6)
    for name in ("logme", "leep", "nce", "hscore", "gbc", "knn_probe", "cka_linear"):
        f = frames[name]
        assert len(f) == 12 and not (f["source"] == f["target"]).any(), name
        assert f["score"].map(math.isfinite).all(), (name, f)
    # each task trained once as a source (CKA's task models are those same encoders)
    assert runner.cache.counts["sources_miss"] == 4


def test_similarity_command_writes_matrices_and_pictures(tmp_path):
    out = tmp_path / "sim"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "similarity", "--tasks", ",".join(GRADED[:3]), "--measures",
         "frechet,mean_embedding,knn_probe", "--limit", "64", "--max_rows", "64", "--source_epochs", "1",
         "--output_dir", out, "--cache_dir", tmp_path / "cache", "--n_boot", "50"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("frechet", "mean_embedding", "knn_probe"):
        assert (out / f"{name}.csv").exists() and (out / f"hinton_{name}.png").stat().st_size > 1000
    # complete task x task matrices as clustered heatmaps, the task map, each task's covariance
    for name in ("heatmap_frechet_text", "heatmap_mean_embedding_text", "task_map_text",
                 *(f"covariance_{t}" for t in GRADED[:3])):  # fmt: skip
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
    specs = suite(targets=["graded_text_target"], sources=["none", *GRADED[1:]], methods={"finetune": {}},
                  fractions=[0.2], seeds=[0, 1], limit=96, budget={"num_train_epochs": 2, "learning_rate": 2e-3},
                  source_budget={"num_train_epochs": 1})  # fmt: skip
    import yaml

    out = tmp_path / "results"
    runner, outcome, _ = run(specs, out, tmp_path / "cache")
    assert not outcome.failed
    config = {"backbones": [TEXT_BB], "sources": ["none", *GRADED[1:]], "targets": ["graded_text_target"],
              "budget": {"num_train_epochs": 2, "learning_rate": 2e-3}, "source_budget": {"num_train_epochs": 1},
              "limit": 96}  # fmt: skip
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    from harness.cli import main

    code = main(["similarity", "--results", str(out), "--measures", "mean_embedding,knn_probe,logme",
                 "--max_rows", "96", "--cache_dir", str(tmp_path / "cache"), "--n_boot", "50"])  # fmt: skip
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
    capsys.readouterr()
    # recommend: ranks the suite's sources for the target by the family's best measure
    code = main(["recommend", "--target", "graded_text_target", "--results", str(out), "--max_rows", "96",
                 "--cache_dir", str(tmp_path / "cache")])  # fmt: skip
    shown = capsys.readouterr().out
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
    code = main(["recommend", "--target", "graded_text_r040", "--sources", "graded_text_r100,graded_text_r000",
                 "--max_rows", "64", "--cache_dir", str(tmp_path / "cache2")])  # fmt: skip
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
