"""End-to-end tests of the transfer ladder on the synthetic families: methods learn, caches are
hit on reuse (counted), records resume, runs are deterministic, failures are recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from suitekit import BUDGET, FE, run, suite, two_process_launch

from harness.records import find_records, read_record

IMAGE_BB = {"name": "resnet-tiny", "image_size": 16}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_every_method_learns_and_related_source_helps(tmp_path, cache_dir):
    specs = suite(
        sources=["none", "synth_text_anchor"],
        methods={"scratch": {}, "feature_extraction": FE, "finetune": {}},
        fractions=[0.05],
    )
    _, outcome, records = run(specs, tmp_path, cache_dir)
    assert not outcome.failed
    by = {
        (r["spec"]["variant"], "+".join(r["spec"]["sources"]) or "none"): r["primary_score"]
        for r in records.values()
    }
    # learning: with the related source every method is far above chance (0.5)
    assert by[("finetune", "synth_text_anchor")] > 0.75
    assert by[("feature_extraction", "synth_text_anchor")] > 0.75
    # transfer: fine-tuning from the related source beats scratch at the small fraction
    assert by[("finetune", "synth_text_anchor")] > by[("scratch", "none")] + 0.1
    rec = next(iter(records.values()))
    for key in (
        "metrics",
        "primary_score",
        "best_epoch",
        "curve",
        "wall_seconds",
        "throughput",
        "peak_memory_mb",
        "provenance",
    ):
        assert key in rec
    assert rec["provenance"]["dataset_fingerprints"]["synth_text_near"]
    assert rec["provenance"]["libraries"]["torch"]


def test_scratch_learns_with_enough_data(tmp_path, cache_dir):
    _, _, records = run(suite(fractions=[1.0]), tmp_path, cache_dir)
    (rec,) = records.values()
    assert rec["primary_score"] > 0.75, rec["curve"]


def test_image_methods_learn(tmp_path, cache_dir):
    specs = suite(
        backbones=[IMAGE_BB],
        targets=["synth_image_near"],
        sources=["none", "synth_image_anchor"],
        methods={"scratch": {}, "finetune": {}},
        fractions=[0.5],
    )
    _, outcome, records = run(specs, tmp_path, cache_dir)
    assert not outcome.failed
    for r in records.values():
        assert r["primary_score"] > 0.6, (
            r["spec"]["variant"],
            r["primary_score"],
        )  # chance is 0.25


def test_source_encoder_trained_once_and_feature_cache_hit(tmp_path, cache_dir):
    specs = suite(
        targets=["synth_text_near", "synth_text_mid"],
        sources=["synth_text_far"],
        methods={"feature_extraction": FE, "finetune": {}},
        fractions=[0.2, 0.4],
        seeds=[0, 1],
        budget={**BUDGET, "num_train_epochs": 1},
    )
    runner, outcome, _ = run(specs, tmp_path, cache_dir)
    assert len(outcome.ran) == 2 * 2 * 2 * 2
    counts = runner.cache.counts
    # one source, many targets/methods/fractions/seeds: trained once (in the preparation
    # phase), then loaded by every other spec's preparation and by every run
    assert counts["sources_miss"] == 1
    assert counts["sources_hit"] == 2 * len(specs) - 1
    # features: 2 targets x 3 splits computed once each; every other use is a hit
    assert counts["features_miss"] == 2 * 3
    assert counts["features_hit"] == (8 - 2) * 3


def test_same_spec_same_seed_same_score(tmp_path, cache_dir):
    specs = suite(
        methods={"finetune": {}}, fractions=[0.2], budget={**BUDGET, "num_train_epochs": 2}
    )
    _, _, a = run(specs, tmp_path / "a", cache_dir)
    _, _, b = run(specs, tmp_path / "b", cache_dir)
    assert [r["primary_score"] for r in a.values()] == [r["primary_score"] for r in b.values()]
    assert [r["curve"] for r in a.values()] == [r["curve"] for r in b.values()]


def test_a_score_does_not_depend_on_what_the_cache_held(tmp_path, cache_dir):
    """The same spec scores the same whether its source encoder and features were trained in
    this suite or found in the cache. (Before the preparation phase, a source trained inside
    the first run moved the random state its head was initialised from: that run scored
    differently from the same run on a warm cache.)"""
    specs = suite(
        sources=["synth_text_far"],
        methods={"feature_extraction": FE, "finetune": {}},
        fractions=[0.2],
        limit=96,
        budget={**BUDGET, "num_train_epochs": 2},
        source_budget={"num_train_epochs": 1},
    )
    runner, _, cold = run(specs, tmp_path / "cold", cache_dir)
    assert runner.cache.counts["sources_miss"] == 1
    runner, _, warm = run(specs, tmp_path / "warm", cache_dir)
    assert runner.cache.counts["sources_miss"] == 0 and runner.cache.counts["features_miss"] == 0
    assert {k: r["primary_score"] for k, r in cold.items()} == {
        k: r["primary_score"] for k, r in warm.items()
    }


def test_resume_skips_recorded_runs(tmp_path, cache_dir):
    specs = suite(seeds=[0, 1, 2], budget={**BUDGET, "num_train_epochs": 1})
    _, first, records = run(specs, tmp_path, cache_dir)
    assert len(first.ran) == 3
    victim = sorted(records)[0]
    (tmp_path / "runs" / f"{victim}.json").unlink()
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")}
    _, second, records2 = run(specs, tmp_path, cache_dir)
    assert second.ran == [victim] and len(second.skipped) == 2
    assert len(records2) == 3
    for name, m in mtimes.items():
        assert (tmp_path / "runs" / name).stat().st_mtime_ns == m  # finished runs untouched


def test_a_record_is_its_run_whatever_its_file_name(tmp_path, cache_dir, caplog):
    """A copy of a record under another name made a group "3 seeds" (2 real); a record renamed
    away from its id was not recognised, trained again, and counted twice."""
    import shutil

    from harness.records import load_records

    specs = suite(seeds=[0, 1], budget={**BUDGET, "num_train_epochs": 1})
    _, first, records = run(specs, tmp_path, cache_dir)
    a, b = sorted(records)
    runs = tmp_path / "runs"
    shutil.copy(runs / f"{a}.json", runs / "copy-of-a.json")
    (runs / f"{b}.json").rename(runs / "renamed-b.json")
    with caplog.at_level("WARNING"):
        loaded, problems = load_records(tmp_path)
    assert sorted(r["run_id"] for r in loaded) == [a, b] and not problems
    assert "counted once" in caplog.text and "renamed-b.json" in caplog.text
    _, second, _ = run(specs, tmp_path, cache_dir)
    assert not second.ran and sorted(second.skipped) == [a, b]


def test_failed_run_is_recorded_and_suite_goes_on(tmp_path, cache_dir):
    specs = suite(
        methods={"bad": {"method": "finetune", "freeze_first_n": 99}, "scratch": {}},
        budget={**BUDGET, "num_train_epochs": 1},
    )
    _, outcome, records = run(specs, tmp_path, cache_dir)
    assert len(outcome.failed) == 1 and len(outcome.ran) == 1
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert "freeze_first_n=99" in failed[0]["error"]
    # recorded failures are not re-run unless asked
    _, again, _ = run(specs, tmp_path, cache_dir)
    assert not again.ran and len(again.skipped) == 2


def test_nan_loss_is_recorded_as_diverged(tmp_path, cache_dir):
    specs = suite(
        methods={"finetune": {}},
        budget={**BUDGET, "num_train_epochs": 2, "learning_rate": 1e12, "max_grad_norm": 0},
    )
    _, outcome, records = run(specs, tmp_path, cache_dir)
    (rec,) = records.values()
    assert rec["status"] == "failed" and "loss became" in rec["error"], rec.get("error")


def test_yosinski_copy_and_freeze(tmp_path, cache_dir):
    specs = suite(
        sources=["synth_text_anchor"],
        fractions=[0.2],
        budget={**BUDGET, "num_train_epochs": 1},
        methods={
            "AnB": {"method": "finetune", "copy_first_n": 2, "finetune_copied": False},
            "AnB+": {"method": "finetune", "copy_first_n": 2},
            "frozen": {"method": "finetune", "freeze_first_n": 3},
        },
    )
    _, outcome, records = run(specs, tmp_path, cache_dir)
    assert not outcome.failed
    extra = {r["spec"]["variant"]: r["extra"] for r in records.values()}
    assert extra["AnB"]["frozen_layers"] == 2 and extra["AnB+"]["frozen_layers"] == 0
    assert extra["AnB"]["trainable_params"] < extra["AnB+"]["trainable_params"]
    assert extra["frozen"]["trainable_params"] < extra["AnB"]["trainable_params"]


def test_limit_marks_records_not_comparable(tmp_path, cache_dir):
    specs = suite(limit=40, budget={**BUDGET, "num_train_epochs": 1})
    _, _, records = run(specs, tmp_path, cache_dir)
    (rec,) = records.values()
    assert rec["comparable"] is False and rec["spec"]["limit"] == 40 and rec["train_rows"] <= 40


ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def test_cli_run_overrides_yaml_and_saves_config(tmp_path, run_main):
    cfg = tmp_path / "suite.yaml"
    cfg.write_text(
        "name: mine\nbackbones: [{name: bert-tiny, max_length: 32, vocab_size: 1000}]\n"
        "targets: [synth_text_near]\nmethods: {scratch: {}}\nfractions: [0.5]\nseeds: [0]\n"
        "budget: {num_train_epochs: 5, learning_rate: 0.002}\n"
    )
    out = tmp_path / "out"
    res = run_main(
        "run",
        "--config",
        str(cfg),
        "--seeds",
        "3",
        "--num_train_epochs",
        "1",
        "--output_dir",
        str(out),
        "--limit",
        "64",
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    saved = json.loads(json.dumps(__import__("yaml").safe_load((out / "config.yaml").read_text())))
    assert (
        saved["seeds"] == "3"
        and saved["budget"]["num_train_epochs"] == 1.0
        and saved["budget"]["learning_rate"] == 0.002
    )
    (rec,) = [read_record(p) for p in find_records(out)]
    assert rec["spec"]["seed"] == 3 and rec["spec"]["budget"]["num_train_epochs"] == 1.0
    assert "synth_text_near" in res.stdout and (out / "leaderboard.md").exists()
    # which file the suite came from: `--suite NAME` reads the installed package's, not a clone's
    assert saved["suite_file"] == str(cfg) and f"({cfg})" in res.stdout


def test_leaderboard_rejects_corrupt_record(tmp_path, cache_dir, run_main):
    run(suite(budget={**BUDGET, "num_train_epochs": 1}), tmp_path, cache_dir)
    (tmp_path / "runs" / "broken.json").write_text('{"schema_version": 1, "run_')
    res = run_main("leaderboard", "--results", str(tmp_path))
    assert res.returncode == 2 and "broken.json" in res.stderr and "Traceback" not in res.stderr
    res = run_main("leaderboard", "--results", str(tmp_path), "--skip_corrupt", "--format", "latex")
    assert res.returncode == 0, res.stderr
    assert "synth\\_text\\_near" in res.stdout and "broken.json" in res.stdout  # LaTeX escapes _


LEARN = [
    "--targets",
    "synth_text_near",
    "--backbone",
    "bert-tiny",
    "--fractions",
    "1.0",
    "--num_train_epochs",
    "6",
    "--learning_rate",
    "0.002",
]
SMALL = [
    "--targets",
    "synth_text_near",
    "--backbone",
    "bert-tiny",
    "--fractions",
    "0.2",
    "--num_train_epochs",
    "2",
]


def test_two_process_cli_run_learns_and_records_like_one_process(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` of the CLI (two CPU processes over gloo
    here). Shards, accounting, gathering and write counts are checked in test_multiprocess.py."""
    env = {**ENV, "TRANSFERBENCH_CACHE": str(tmp_path / "cache")}
    args = ["run", *LEARN, "--methods", "finetune", "--sources", "none", "--seeds", "0"]
    one = subprocess.run(
        [sys.executable, "-m", "harness", *args, "--output_dir", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(
        two_process_launch("-m", "harness", *args, "--output_dir", str(tmp_path / "two")),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert (
        two.stdout.count("run(s) done") == 1
    )  # the leaderboard is printed by the main process only
    (rec1,) = [read_record(p) for p in find_records(tmp_path / "one")]
    (rec2,) = [read_record(p) for p in find_records(tmp_path / "two")]
    assert rec1["run_id"] == rec2["run_id"] and rec2["status"] == "ok"
    assert (
        rec2["provenance"]["device"]["num_processes"] == 2
        and rec1["provenance"]["device"]["num_processes"] == 1
    )
    assert set(rec1) == set(rec2)
    assert rec1["primary_score"] > 0.7 and rec2["primary_score"] > 0.7  # both learn


def test_killed_suite_resumes_without_redoing_or_corrupting(tmp_path):
    import signal
    import time

    env = {**ENV, "TRANSFERBENCH_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "harness",
        "run",
        *SMALL,
        "--methods",
        "scratch",
        "--seeds",
        "0,1,2,3",
        "--output_dir",
        str(out),
    ]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while (
        time.time() < deadline
        and len(list((out / "runs").glob("*.json")) if (out / "runs").exists() else []) < 1
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    assert 1 <= len(done_before) < 4
    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{len(done_before)} run(s) already recorded" in res.stdout
    records = [read_record(p) for p in find_records(out)]
    assert len(records) == 4 and len({r["run_id"] for r in records}) == 4
    assert all(r["status"] == "ok" for r in records)
    assert not list((out / "runs").glob(".*.tmp"))
    for name, mtime in done_before.items():
        assert (out / "runs" / name).stat().st_mtime_ns == mtime


def test_outside_a_terminal_progress_is_a_line_per_run(tmp_path, cache_dir, capsys):
    """In a log (CI, a nightly) the bars' frames made 212 KB of the quick suite's output; now
    a line per run with its score and time, and no carriage-return frames."""
    from harness.progress import interactive

    assert not interactive()  # pytest captures stderr: not a terminal
    specs = suite(seeds=[0, 1], budget={**BUDGET, "num_train_epochs": 1})
    capsys.readouterr()
    run(specs, tmp_path, cache_dir)
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if line.startswith("[")]
    assert len(lines) == 2 and lines[0].startswith("[1/2] scratch | none -> synth_text_near")
    assert "accuracy" in lines[0] and lines[0].endswith(" s)")
    assert "\r" not in out.err and "\r" not in out.out
