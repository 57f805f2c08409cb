"""Leaderboard submissions: `submit` packs a real tiny suite run; `validate-submission` accepts
it and rejects every kind of damage with its message (exit 1; exit 2 for a path that does not
read); `--rerun` reproduces genuine scores and catches an edited one whose checksums were
recomputed; `leaderboard --submissions` ranks valid submissions with the baselines, with
paired tests and a critical-difference diagram whose statistics are checked against numbers
computed by hand; and its page sorts and filters in headless Chromium."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from suitekit import TEXT_BB

from harness.analysis.critical_difference import (
    analyse,
    cliques,
    critical_difference,
    draw,
    friedman,
    q_alpha,
)
from harness.analysis.ranking import paired_test, ranked_table, run_row
from harness.cli import main
from harness.spec import RunSpec
from harness.workflows.submission import RerunResult, choose_runs, seal, seed_tolerance

SUITE = {
    "name": "subtest",
    "backbones": [TEXT_BB],
    "targets": ["synth_text_near", "synth_text_mid"],
    "sources": ["none"],
    "fractions": [0.1],
    "seeds": [0, 1],
    "methods": {
        "scratch": {},
        "finetune": {},
        "my_method": {"method": "finetune", "layer_lr_decay": 0.5},
    },
    "budget": {"num_train_epochs": 1, "per_device_train_batch_size": 32, "learning_rate": 2e-3},
}
RUNS = 2 * 3 * 2  # targets × methods × seeds


# ------------------------------------------------------------------------------ fixtures, helpers


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def results(tmp_path_factory, cache) -> Path:
    """A real `transferbench run` of a tiny suite (no --limit): 12 runs."""
    root = tmp_path_factory.mktemp("run")
    config = root / "subtest.yaml"
    config.write_text(yaml.safe_dump(SUITE))
    out = root / "results"
    assert (
        main(["run", "--config", str(config), "--output_dir", str(out), "--cache_dir", str(cache)])
        == 0
    )
    assert len(list((out / "runs").glob("*.json"))) == RUNS
    return out


@pytest.fixture(scope="module")
def packed(results, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("subs") / "team-a.json"
    assert (
        main(["submit", "--results", str(results), "--name", "team-a", "--output", str(path)]) == 0
    )
    return path


def load(path: Path) -> dict:
    raw = Path(path).read_bytes()
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def save(doc: dict, path: Path, reseal: bool = True) -> Path:
    path.write_text(json.dumps(seal(doc) if reseal else doc))
    return path


def respec(record: dict, **changes) -> dict:
    """Change a record's spec and give it the id that spec has (as a run with it would)."""
    record["spec"].update(changes)
    record["run_id"] = RunSpec.from_dict(record["spec"]).id
    return record


def validate(path: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["validate-submission", str(path), *extra])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def canonical(obj) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------ pack and accept


def test_submit_packs_every_record_with_checksums(packed, results):
    doc = load(packed)
    assert doc["submission_schema_version"] == 1 and doc["name"] == "team-a"
    assert doc["transferbench_version"] and doc["created"].endswith("+00:00")
    config = yaml.safe_load((results / "config.yaml").read_text())
    assert doc["suite"] == {
        k: v
        for k, v in config.items()
        if k not in ("output_dir", "data_dir", "num_runs", "suite_file")
    }
    on_disk = {p.stem: json.loads(p.read_text()) for p in (results / "runs").glob("*.json")}
    assert [e["run_id"] for e in doc["runs"]] == sorted(on_disk)
    for entry in doc["runs"]:
        assert (
            entry["record"] == on_disk[entry["run_id"]]
        )  # the record as written, provenance included
        assert entry["record"]["provenance"]["libraries"]["torch"]
        assert entry["sha256"] == canonical(entry["record"])  # checked independently of the packer
    assert doc["sha256"] == canonical({k: v for k, v in doc.items() if k != "sha256"})


def test_a_genuine_submission_validates_with_a_one_line_summary(packed, capsys):
    rc, out = validate(packed, capsys)
    assert rc == 0, out
    assert out.count("\n") == 1 and out.startswith(
        "valid: submission 'team-a' (suite 'subtest'): 12 run(s)"
    )


def test_gzip_by_extension(results, tmp_path, capsys):
    path = tmp_path / "team.json.gz"
    assert main(["submit", "--results", str(results), "--name", "team", "--output", str(path)]) == 0
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert len(load(path)["runs"]) == RUNS
    assert validate(path, capsys)[0] == 0


# ------------------------------------------------------------------------------ rejections


@pytest.mark.parametrize("kind", ["garbage", "truncated-json", "truncated-gzip", "not-an-object"])
def test_rejects_malformed_and_truncated_files(kind, packed, tmp_path, capsys):
    raw = packed.read_bytes()
    path = tmp_path / ("bad.json.gz" if kind == "truncated-gzip" else "bad.json")
    path.write_bytes(
        {
            "garbage": b"PK\x03\x04 not json at all",
            "truncated-json": raw[: len(raw) // 2],
            "truncated-gzip": gzip.compress(raw)[:500],
            "not-an-object": b"[1, 2, 3]",
        }[kind]
    )
    rc, out = validate(path, capsys)
    expected = {
        "garbage": "malformed file: not valid JSON",
        "truncated-json": "truncated file: not valid JSON",
        "truncated-gzip": "malformed or truncated file: not a complete gzip stream",
        "not-an-object": "malformed file: expected a JSON object, got list",
    }[kind]
    assert rc == 1 and expected in out, out


def test_a_path_that_does_not_read_exits_2(tmp_path, capsys):
    rc, out = validate(tmp_path / "nowhere.json", capsys)
    assert rc == 2 and "no such file" in out
    rc, out = validate(tmp_path, capsys)
    assert rc == 2 and "is a folder" in out


def test_rejects_a_wrong_schema_version(packed, tmp_path, capsys):
    doc = load(packed)
    doc["submission_schema_version"] = 2
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert (
        rc == 1
        and "wrong schema version: submission_schema_version 2; this TransferBench reads version 1"
        in out
    )
    del doc["submission_schema_version"]
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1 and "not a TransferBench submission" in out


def test_rejects_a_missing_run_naming_it(packed, tmp_path, capsys):
    doc = load(packed)
    gone = doc["runs"].pop(3)["record"]
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    s = gone["spec"]
    assert rc == 1
    assert (
        f"missing run {gone['run_id']} ({s['variant']} | none -> {s['target']} | frac 0.1 | "
        f"seed {s['seed']} | {s['backbone']['name']}): "
        "in the suite, not in the submission"
    ) in out
    assert (
        f"seeds fewer than the suite asks: {s['variant']} | none -> {s['target']} | frac 0.1 | "
        f"{s['backbone']['name']} has seeds" in out
    )


def test_rejects_a_record_whose_checksum_fails(packed, tmp_path, capsys):
    doc = load(packed)
    doc["runs"][0]["record"]["primary_score"] = 0.99  # edited, checksums left as they were
    rc, out = validate(save(doc, tmp_path / "s.json", reseal=False), capsys)
    assert rc == 1
    assert (
        f"run {doc['runs'][0]['run_id']} (" in out
        and "record checksum fails: edited or damaged" in out
    )
    assert "the file's checksum (sha256) does not match its content" in out
    doc["sha256"] = canonical(
        {k: v for k, v in doc.items() if k != "sha256"}
    )  # only the file's redone
    rc, out = validate(save(doc, tmp_path / "s.json", reseal=False), capsys)
    assert rc == 1 and "record checksum fails" in out and "file's checksum" not in out


def test_rejects_a_spec_edited_after_the_run(packed, tmp_path, capsys):
    doc = load(packed)
    record = doc["runs"][0]["record"]
    record["spec"]["budget"]["learning_rate"] = 0.1  # the id no longer matches; checksums redone
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1 and f"run {record['run_id']}: its id does not match its spec" in out
    assert f"run {record['run_id']} (" in out and ") is not a run of the submitted suite" in out


def test_rejects_runs_made_with_limit(packed, tmp_path, capsys):
    """What `transferbench run --limit 64` writes: the suite's limit, each spec's, comparable false."""
    doc = load(packed)
    doc["suite"]["limit"] = 64
    for entry in doc["runs"]:
        respec(entry["record"], limit=64)["comparable"] = False
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1 and "missing run" not in out  # the grid is whole: --limit is the reason
    assert out.count("was made with --limit 64: not comparable") == RUNS


def test_rejects_fewer_seeds_than_the_suite_asks(packed, tmp_path, capsys):
    doc = load(packed)
    doc["runs"] = [e for e in doc["runs"] if e["record"]["spec"]["seed"] == 0]
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1
    assert (
        "seeds fewer than the suite asks: scratch | none -> synth_text_near | frac 0.1 | "
        "bert-tiny has seeds [0] of [0, 1]" in out
    )
    assert out.count("seeds fewer than the suite asks") == 6  # every method on every target


def test_rejects_fewer_seeds_than_the_registered_suite_asks(packed, tmp_path, capsys):
    """A suite named like a registered one (`quick`: seeds 0, 1) that runs seed 0 only: its own
    grid is whole, but the registered suite asks for more seeds."""
    doc = load(packed)
    doc["suite"].update(name="quick", seeds=[0])
    doc["runs"] = [e for e in doc["runs"] if e["record"]["spec"]["seed"] == 0]
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1 and "missing run" not in out
    assert (
        "seeds fewer than the registered suite asks: the registered suite 'quick' has seeds [0, 1]; "
        "the submission's suite has [0] (lacks [1])"
    ) in out
    assert (
        "targets missing: the registered suite 'quick' has targets" in out
        and "(lacks ['digits', " in out
    )
    assert "fractions missing: the registered suite 'quick' has fractions [0.05, 0.5]" in out


def test_rejects_a_test_sample_cap_the_registered_suite_does_not_have(packed, tmp_path, capsys):
    doc = load(packed)
    doc["suite"].update(name="quick", max_test_samples=100)
    for entry in doc["runs"]:
        respec(entry["record"], max_test_samples=100)
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1 and "missing run" not in out
    assert (
        "field 'max_test_samples' differs from the registered suite 'quick': 100 instead of None"
        in out
    )


def test_rejects_a_task_version_that_differs_from_the_registry(packed, tmp_path, capsys):
    """Runs made when the card of synth_text_near read differently (their ids follow their specs)."""
    doc = load(packed)
    for entry in doc["runs"]:
        spec = entry["record"]["spec"]
        if spec["target"] == "synth_text_near":
            respec(entry["record"], task_versions={"synth_text_near": "0123456789abcdef"})
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1 and "missing run" not in out
    assert "task version differs: 'synth_text_near' was version 0123456789abcdef in 6 run(s)" in out
    assert "the registry's card is version" in out


def test_rejects_missing_fields_bad_records_and_duplicates(packed, tmp_path, capsys):
    doc = load(packed)
    del doc["name"]
    doc["created"] = 5
    broken = doc["runs"][0]["record"]
    del broken["primary_score"]
    doc["runs"].append(copy.deepcopy(doc["runs"][1]))
    stale = doc["runs"][2]["record"]
    del stale["spec"]["task_versions"]
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert rc == 1
    assert (
        "field 'name': missing or not a str" in out
        and "field 'created': missing or not a str" in out
    )
    assert (
        f"run {broken['run_id']}: not a valid run record: primary_score must be a number, got None"
        in out
    )
    assert f"run {doc['runs'][1]['run_id']}: listed 2 times" in out
    assert f"run {stale['run_id']}: its spec has no task versions" in out


def test_rejects_failed_runs(packed, tmp_path, capsys):
    doc = load(packed)
    record = doc["runs"][2]["record"]
    record.update(status="failed", error="DivergedError: loss is nan at step 3")
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert (
        rc == 1
        and f"run {record['run_id']} (" in out
        and "failed: DivergedError: loss is nan at step 3" in out
    )


def test_rejects_a_suite_that_does_not_expand(packed, tmp_path, capsys):
    doc = load(packed)
    doc["suite"]["methods"]["l2sp"] = {}
    rc, out = validate(save(doc, tmp_path / "s.json"), capsys)
    assert (
        rc == 1
        and "the submitted suite does not expand with this registry" in out
        and "l2sp" in out
    )


def test_lists_every_problem_not_just_the_first(packed, tmp_path, capsys):
    doc = load(packed)
    doc["runs"].pop(0)
    doc["runs"][0]["record"]["primary_score"] = 0.5
    doc["runs"][1]["record"]["status"] = "failed"
    rc, out = validate(save(doc, tmp_path / "s.json", reseal=False), capsys)
    assert rc == 1
    for reason in (
        "file's checksum",
        "record checksum fails",
        "failed:",
        "missing run",
        "seeds fewer",
    ):
        assert reason in out, (reason, out)
    assert out.splitlines()[0].startswith(f"invalid: {tmp_path / 's.json'}: ")


def test_submit_refuses_failed_corrupt_and_missing_records(results, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(results, folder)
    runs = sorted((folder / "runs").glob("*.json"))
    failed = json.loads(runs[0].read_text())
    failed.update(status="failed", error="out of memory: CUDA out of memory")
    runs[0].write_text(json.dumps(failed))
    runs[1].write_text(runs[1].read_text()[:100])  # a half-written file
    runs[2].unlink()
    out = tmp_path / "s.json"
    capsys.readouterr()
    rc = main(["submit", "--results", str(folder), "--name", "x", "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and not out.exists()
    assert f"refusing to pack {folder}" in err
    assert f"corrupt record: {runs[1]}" in err
    assert f"run {failed['run_id']} (" in err and "failed: out of memory" in err
    assert f"missing run {runs[2].stem}" in err and f"missing run {runs[1].stem}" in err


def test_submit_needs_a_run_folder(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert main(["submit", "--results", str(tmp_path), "--name", "x"]) == 2
    assert "config.yaml: missing" in capsys.readouterr().err
    assert main(["submit", "--results", str(tmp_path / "nowhere"), "--name", "x"]) == 2


# ------------------------------------------------------------------------------ rerun


def test_a_genuine_submission_passes_rerun_2(packed, cache, capsys):
    rc, out = validate(packed, capsys, "--rerun", "2", "--cache_dir", str(cache))
    assert rc == 0, out
    assert (
        "rerun 2 of 12 run(s) (seed 0): all reproduced (2 exactly, 0 within seed-noise tolerance)"
        in out
    )


def test_an_edited_score_with_recomputed_checksums_fails_the_rerun(packed, cache, tmp_path, capsys):
    """The edited run is the one `--rerun 1 --seed 0` draws (`choose_runs`, which `rerun` uses)."""
    doc = load(packed)
    (target,) = choose_runs([e["record"] for e in doc["runs"]], 1, seed=0)
    record = next(e["record"] for e in doc["runs"] if e["run_id"] == target["run_id"])
    true_score = record["primary_score"]
    record["primary_score"] = record["metrics"]["accuracy"] = round(min(1.0, true_score + 0.05), 6)
    path = save(doc, tmp_path / "edited.json")
    assert validate(path, capsys)[0] == 0  # checksums recomputed: only a rerun can tell
    rc, out = validate(path, capsys, "--rerun", "1", "--seed", "0", "--cache_dir", str(cache))
    s = record["spec"]
    assert rc == 1, out
    assert (
        f"rerun mismatch: run {record['run_id']} ({s['variant']} | none -> {s['target']} | "
        f"frac 0.1 | seed {s['seed']} | {s['backbone']['name']}) does not reproduce: recorded {record['primary_score']!r}, rerun {true_score!r}"
    ) in out


def test_rerun_in_another_environment_allows_seed_noise(packed, cache, tmp_path, capsys):
    """A record made with another torch: the rerun's score may differ within the tolerance of its
    group's seed spread; one far outside it fails."""
    doc = load(packed)
    (target,) = choose_runs([e["record"] for e in doc["runs"]], 1, seed=3)
    record = next(e["record"] for e in doc["runs"] if e["run_id"] == target["run_id"])
    tol = seed_tolerance([e["record"] for e in doc["runs"]])[record["run_id"]]
    assert tol is not None and tol > 0
    record["provenance"]["libraries"]["torch"] = "1.0.0"
    true_score = record["primary_score"]
    record["primary_score"] = true_score + tol / 2
    rc, out = validate(
        save(doc, tmp_path / "other.json"),
        capsys,
        "--rerun",
        "1",
        "--seed",
        "3",
        "--cache_dir",
        str(cache),
    )
    assert rc == 0 and "(0 exactly, 1 within seed-noise tolerance)" in out, out
    record["primary_score"] = true_score + 2 * tol
    rc, out = validate(
        save(doc, tmp_path / "other.json"),
        capsys,
        "--rerun",
        "1",
        "--seed",
        "3",
        "--cache_dir",
        str(cache),
    )
    assert rc == 1 and f"run {record['run_id']}" in out and f"tolerance ±{tol:.4g}" in out


OTHER_FAMILY = """name: other_family_text
version: 1
description: "A synthetic text task over another word family (family_seed 1)."
modality: text
problem: classification
label_names: [negative, positive]
inputs: {text: sentence}
label: label
splits: {train: train, test: test}
metrics: [accuracy]
primary_metric: accuracy
direction: max
tags: [synthetic, text]
data:
  generator:
    function: tasks.generators.synthetic_text:generate
    kwargs: {kind: single, relatedness: 0.5, task_seed: 7, family_seed: 1, n_train: 1000, n_test: 500}
"""


def test_rerun_builds_the_tokenizer_from_every_task_of_the_suite(tmp_path, cache, capsys):
    """A preset's tokenizer is trained on every task its backbone sees in the suite. Two targets
    over different word families: rerunning one run must rebuild the tokenizer of both, or the
    token ids (and the score) change."""
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "other_family_text.yaml").write_text(OTHER_FAMILY)
    suite = {
        **SUITE,
        "name": "families",
        "targets": ["synth_text_near", "other_family_text"],
        "methods": {"scratch": {}},
        "seeds": [0],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    out, sub, inc = tmp_path / "results", tmp_path / "families.json", ["--include_path", str(cards)]
    assert (
        main(
            [
                "run",
                "--config",
                str(tmp_path / "suite.yaml"),
                "--output_dir",
                str(out),
                "--cache_dir",
                str(cache),
                *inc,
            ]
        )
        == 0
    )
    assert main(["submit", "--results", str(out), "--name", "f", "--output", str(sub), *inc]) == 0
    for seed in (0, 1):  # one run at a time: seed 0 draws one target, seed 1 the other
        rc, text = validate(
            sub, capsys, "--rerun", "1", "--seed", str(seed), "--cache_dir", str(cache), *inc
        )
        assert rc == 0 and "1 exactly" in text, text
    drawn = {
        choose_runs([e["record"] for e in load(sub)["runs"]], 1, s)[0]["spec"]["target"]
        for s in (0, 1)
    }
    assert drawn == {"synth_text_near", "other_family_text"}
    rc, text = validate(sub, capsys)  # without the card folder the task is unknown
    assert (
        rc == 1 and "task version differs: 'other_family_text'" in text and "no such task" in text
    )


def _rec(score, seed, target="synth_text_near", variant="finetune"):
    spec = {
        "backbone": {"name": "bert-tiny"},
        "sources": [],
        "method": "finetune",
        "variant": variant,
        "method_config": {},
        "target": target,
        "fraction": 0.1,
        "seed": seed,
        "budget": {},
        "source_budget": {},
    }
    return {
        "run_id": f"{variant}-{target}-{seed}",
        "status": "ok",
        "spec": spec,
        "primary_score": score,
        "primary_metric": "accuracy",
    }


def test_seed_tolerance_by_hand():
    """Tolerance 2·√2·s, s the seed spread of the run's group without the run.
    finetune on near: 0.70, 0.74, 0.72 — for the 0.70 run, s = sd(0.74, 0.72) = 0.014142: 0.04.
    other on near: 0.50, 0.54 — one other seed is no spread: the other near group's full
    spread, sd(0.70, 0.74, 0.72) = 0.02: 2√2 · 0.02 = 0.056569.
    finetune on mid: one seed, no other mid group: the median of all other groups' spreads,
    median(0.02, sd(0.50, 0.54) = 0.028284) = 0.024142: 0.068284."""
    records = [_rec(0.70, 0), _rec(0.74, 1), _rec(0.72, 2)]
    records += [_rec(0.50, 0, variant="other"), _rec(0.54, 1, variant="other")]
    records += [_rec(0.6, 0, target="synth_text_mid")]
    tol = seed_tolerance(records)
    assert tol["finetune-synth_text_near-0"] == pytest.approx(0.04)
    assert tol["other-synth_text_near-0"] == pytest.approx(0.056569, abs=1e-6)
    assert tol["finetune-synth_text_mid-0"] == pytest.approx(0.068284, abs=1e-6)
    # an edited score does not widen its own tolerance
    edited = [_rec(0.99, 0), *records[1:]]
    assert seed_tolerance(edited)["finetune-synth_text_near-0"] == pytest.approx(0.04)
    assert seed_tolerance([_rec(0.5, 0), _rec(0.5, 1)])["finetune-synth_text_near-0"] is None
    base = {"run_id": "x", "spec": records[0]["spec"], "recorded": 0.70}
    assert RerunResult(**base, rerun=0.77, exact=False, tolerance=0.08).ok
    assert not RerunResult(**base, rerun=0.79, exact=False, tolerance=0.08).ok
    assert not RerunResult(
        **base, rerun=0.7000001, exact=True, tolerance=0.08
    ).ok  # exact means exact
    assert not RerunResult(**base, rerun=0.71, exact=False, tolerance=None).ok  # no spread: exact
    assert not RerunResult(**base, rerun=None, exact=True, tolerance=None, error="boom").ok


# ------------------------------------------------------------------------------ statistics


def test_paired_t_test_by_hand():
    # differences 0.10, 0.11, 0.09: mean 0.10, sd 0.01, t = 0.10 / (0.01/√3) = 17.3205 with 2 df;
    # for 2 df the two-sided p is 1 − t/√(t² + 2) = 1 − 17.3205/17.3781 = 0.003316
    sub, base = {0: 0.80, 1: 0.83, 2: 0.83}, {0: 0.70, 1: 0.72, 2: 0.74}
    n, p = paired_test(sub, base)
    assert n == 3 and p == pytest.approx(0.003316, abs=2e-6)
    assert paired_test({0: 0.8}, {0: 0.7, 1: 0.7}) == (1, pytest.approx(math.nan, nan_ok=True))
    assert paired_test({0: 0.8, 1: 0.9}, {0: 0.7, 1: 0.8}) == (
        2,
        0.0,
    )  # the same gain on every seed
    assert paired_test({0: 0.8, 1: 0.9}, {0: 0.8, 1: 0.9}) == (2, 1.0)
    assert (
        paired_test({0: 0.8, 1: 0.9, 5: 0.1}, {0: 0.7, 1: 0.75, 7: 0.9})[0] == 2
    )  # shared seeds only


def test_ranked_table_by_hand():
    """Condition synth_text_near: baselines scratch (0.60, 0.62, 0.64: mean 0.62) and finetune
    (0.70, 0.72, 0.74: mean 0.72, the best baseline); submission X (0.80, 0.83, 0.83: 0.82).
    Ranks X 1, finetune 2, scratch 3; X − best baseline = +0.10, p = 0.003316 (as above).
    Condition synth_text_regression (mse, lower is better): finetune 0.5, 0.5; X 0.4, 0.6:
    equal means, so they share rank 1.5 and X's difference is 0 with p = 1."""
    rows = []
    for variant, who, scores in [
        ("scratch", "baseline", [0.60, 0.62, 0.64]),
        ("finetune", "baseline", [0.70, 0.72, 0.74]),
        ("x", "team", [0.80, 0.83, 0.83]),
    ]:
        rows += [
            run_row({**_rec(s, i, variant=variant), "direction": "max"}, "suite", who, "text")
            for i, s in enumerate(scores)
        ]
    for variant, who, scores in [("finetune", "baseline", [0.5, 0.5]), ("x", "team", [0.4, 0.6])]:
        rows += [
            run_row(
                {
                    **_rec(s, i, target="synth_text_regression", variant=variant),
                    "primary_metric": "mse",
                    "direction": "min",
                },
                "suite",
                who,
                "text",
            )
            for i, s in enumerate(scores)
        ]
    t = ranked_table(pd.DataFrame(rows)).set_index(["target", "method"])
    near = t.loc["synth_text_near"]
    assert list(near.index) == ["x", "finetune", "scratch"] and list(near["rank"]) == [
        1.0,
        2.0,
        3.0,
    ]
    assert near.loc["x", "delta_vs_best_baseline"] == pytest.approx(0.10)
    assert (
        near.loc["x", "p_value"] == pytest.approx(0.003316, abs=2e-6)
        and near.loc["x", "significant"]
    )
    assert near.loc["scratch", "delta_vs_best_baseline"] == pytest.approx(-0.10)
    assert near.loc["x", "best_baseline"] == "finetune" and pd.isna(near.loc["finetune", "p_value"])
    # t(0.975, 2) = 4.302653; scratch: s = 0.02, half width 4.302653 · 0.02 / √3 = 0.049683
    assert near.loc["scratch", "ci_low"] == pytest.approx(0.62 - 0.049683, abs=1e-6)
    reg = t.loc["synth_text_regression"]
    assert list(reg["rank"]) == [1.5, 1.5] and reg.loc[
        "x", "delta_vs_best_baseline"
    ] == pytest.approx(0.0)
    assert reg.loc["x", "p_value"] == pytest.approx(1.0) and not reg.loc["x", "significant"]


def test_friedman_and_nemenyi_against_demsar_2006():
    """Demšar (2006), section 3.2.2: four methods on 14 data sets with average ranks 3.143,
    2.000, 2.893, 1.964 (rank sums 44, 28, 40.5, 27.5) give χ²_F = 9.28, F_F = 3.69, and with
    q_0.05 = 2.569 the critical difference CD = 2.569 · √(4·5/(6·14)) = 1.25."""
    f = friedman(np.array([44, 28, 40.5, 27.5]) / 14, 14)
    assert f.chi2 == pytest.approx(9.28, abs=0.005) and f.ff == pytest.approx(3.69, abs=0.005)
    assert q_alpha(4) == pytest.approx(2.569, abs=5e-4)
    assert critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
    # Demšar's table of q_0.05 for k = 2..6: 1.960 2.343 2.569 2.728 2.850
    assert [q_alpha(k) for k in range(2, 7)] == pytest.approx(
        [1.960, 2.343, 2.569, 2.728, 2.850], abs=1e-3
    )


def test_friedman_3x4_by_hand(tmp_path):
    """Three methods on four data sets (higher is better):
        D1: A .90  B .85  C .80  -> ranks 1, 2, 3
        D2: A .70  B .75  C .60  -> 2, 1, 3
        D3: A .88  B .82  C .82  -> 1, 2.5, 2.5 (a tie shares the ranks it spans)
        D4: A .95  B .90  C .91  -> 1, 3, 2
    Average ranks A 5/4 = 1.25, B 8.5/4 = 2.125, C 10.5/4 = 2.625.
    χ²_F = 12·4/(3·4) · (1.25² + 2.125² + 2.625² − 3·4²/4) = 4 · (12.96875 − 12) = 3.875;
    with 2 df its p is exp(−3.875/2) = 0.144064. F_F = 3 · 3.875 / (4·2 − 3.875) = 2.818182.
    CD = q_0.05(3) · √(3·4/(6·4)) = 2.343701 · 0.707107 = 1.657247: C − A = 1.375 < CD, so
    the three are one group (no significant difference)."""
    scores = pd.DataFrame(
        {
            "A": [0.90, 0.70, 0.88, 0.95],
            "B": [0.85, 0.75, 0.82, 0.90],
            "C": [0.80, 0.60, 0.82, 0.91],
        }
    )
    r = analyse(scores)
    assert r.names == ["A", "B", "C"] and r.avg_ranks == pytest.approx([1.25, 2.125, 2.625])
    assert r.friedman.chi2 == pytest.approx(3.875) and r.friedman.p_chi2 == pytest.approx(
        0.144064, abs=1e-6
    )
    assert r.friedman.ff == pytest.approx(2.818182, abs=1e-6)
    assert r.cd == pytest.approx(1.657247, abs=1e-5) and r.cliques == [(0, 2)]
    low = analyse(-scores, higher_is_better=False)  # the same data as errors: the same ranks
    assert low.avg_ranks == r.avg_ranks
    files = draw(r, tmp_path / "cd", title="hand")
    assert [f.suffix for f in files] == [".png", ".svg"] and all(
        f.stat().st_size > 1000 for f in files
    )
    svg = files[1].read_text()
    assert "CD = 1.66" in svg or "CD" in svg  # text may be drawn as paths; the file is an SVG
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_cliques_by_hand():
    # ranks 1.0, 1.5, 3.0, 3.2 with CD 1.0: {1.0, 1.5} and {3.0, 3.2}; 1.5 → 3.0 is 1.5 ≥ CD
    assert cliques(np.array([3.2, 1.0, 3.0, 1.5]), 1.0) == [(0, 1), (2, 3)]
    # with CD 2.1: 1.0 → 3.0 (2.0 < 2.1) and 1.5 → 3.2 (1.7): two overlapping groups
    assert cliques(np.array([1.0, 1.5, 3.0, 3.2]), 2.1) == [(0, 2), (1, 3)]
    assert cliques(np.array([1.0, 2.0, 3.0]), 0.5) == []  # all significantly different


# ------------------------------------------------------------------------------ the leaderboard


@pytest.fixture(scope="module")
def board(packed, results, tmp_path_factory) -> Path:
    """A folder with the genuine submission, a second one from the same run and a broken one."""
    subs = tmp_path_factory.mktemp("board")
    shutil.copy(packed, subs / "team-a.json")
    assert (
        main(
            [
                "submit",
                "--results",
                str(results),
                "--name",
                "team-b",
                "--output",
                str(subs / "team-b.json.gz"),
            ]
        )
        == 0
    )
    broken = load(packed)
    broken["name"] = "broken"
    broken["runs"][0]["record"]["primary_score"] = 1.0
    (subs / "broken.json").write_text(json.dumps(broken))
    return subs


def test_leaderboard_ranks_valid_submissions_with_the_baselines(board, packed, tmp_path, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--submissions", str(board), "--output_dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "skipped invalid submission broken.json" in err and "record checksum fails" in err
    assert "2 valid submission(s), 1 skipped" in out
    t = pd.read_csv(tmp_path / "leaderboard" / "subtest.csv")
    # per target: the two baselines (once each, though both submissions carry them) and each
    # submission's own method
    assert len(t) == 2 * 4 and set(t["submission"]) == {"baseline", "team-a", "team-b"}
    assert (t["seeds"] == 2).all()
    records = {e["run_id"]: e["record"] for e in load(packed)["runs"]}
    for _, part in t.groupby("target"):
        assert list(part["rank"]) == list((-part["mean"]).rank())  # 1 = best, ties averaged
        base = part[part["submission"] == "baseline"]
        best = base.loc[base["mean"].idxmax()]
        mine = part[part["submission"] == "team-a"].iloc[0]
        assert mine["delta_vs_best_baseline"] == pytest.approx(mine["mean"] - best["mean"])
        a = {
            records[i]["spec"]["seed"]: records[i]["primary_score"] for i in mine["run_ids"].split()
        }
        b = {
            records[i]["spec"]["seed"]: records[i]["primary_score"] for i in best["run_ids"].split()
        }
        expected = paired_test(a, b)[1]
        assert (pd.isna(mine["p_value"]) and math.isnan(expected)) or mine[
            "p_value"
        ] == pytest.approx(expected)
        assert mine["significant"] == (mine["p_value"] < 0.05)
    for suffix in ("png", "svg"):
        assert (tmp_path / "leaderboard" / f"cd_subtest_text.{suffix}").stat().st_size > 1000
    ranks = pd.read_csv(tmp_path / "leaderboard" / "ranks_subtest_text.csv")
    assert len(ranks) == 4 and ranks["average rank"].sum() == pytest.approx(4 * 5 / 2)
    assert "critical difference (text): k = 4 methods on N = 2 conditions" in out
    page = (tmp_path / "leaderboard" / "index.html").read_text()
    assert not re.search(
        r"""(src|href)=['"]?(https?:)?//""", page
    )  # self-contained: nothing fetched
    assert "broken.json" in page and "data:image/png;base64," in page


def test_leaderboard_takes_baselines_from_results(board, results, tmp_path, capsys):
    """With --results the baseline rows come from that folder (here a copy whose scratch scores
    were set to 0.5), not from the runs inside the submissions."""
    reference = tmp_path / "reference"
    shutil.copytree(results, reference)
    for path in (reference / "runs").glob("*.json"):
        r = json.loads(path.read_text())
        if r["spec"]["variant"] == "scratch":
            path.write_text(json.dumps({**r, "primary_score": 0.5}))
    assert (
        main(
            [
                "leaderboard",
                "--submissions",
                str(board),
                "--results",
                str(reference),
                "--output_dir",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    t = pd.read_csv(tmp_path / "out" / "leaderboard" / "subtest.csv")
    scratch = t[t["method"] == "scratch"]
    assert (
        len(scratch) == 2
        and (scratch["mean"] == 0.5).all()
        and (scratch["submission"] == "baseline").all()
    )


def test_leaderboard_without_a_valid_submission_is_an_error(board, tmp_path, capsys):
    only = tmp_path / "subs"
    only.mkdir()
    shutil.copy(board / "broken.json", only)
    assert main(["leaderboard", "--submissions", str(only), "--output_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "skipped invalid submission broken.json" in err and "no valid submission to rank" in err
    assert main(["leaderboard", "--submissions", str(tmp_path / "nowhere")]) == 2


def _column(browser, name: str) -> tuple[int, list]:
    heads = [
        h.text.replace(" ▲", "").replace(" ▼", "")
        for h in browser.find_elements("css selector", "table.board thead th")
    ]
    i = heads.index(name)
    rows = [
        r for r in browser.find_elements("css selector", "table.board tbody tr") if r.is_displayed()
    ]
    return i, [r.find_elements("css selector", "td")[i].text for r in rows]


def test_the_leaderboard_page_sorts_filters_and_links_provenance(board, tmp_path, browser):
    from selenium.webdriver.support.ui import Select

    assert main(["leaderboard", "--submissions", str(board), "--output_dir", str(tmp_path)]) == 0
    browser.get((tmp_path / "leaderboard" / "index.html").as_uri())
    assert browser.title == "TransferBench leaderboard"
    i, before = _column(browser, "mean")
    values = [float(v) for v in before]
    assert values != sorted(values)  # ranked within each target, not sorted over the page
    header = browser.find_elements("css selector", "table.board thead th")[i]
    header.click()
    after = [float(v) for v in _column(browser, "mean")[1]]
    assert after == sorted(values) and after != values  # numeric ascending
    header.click()
    assert [float(v) for v in _column(browser, "mean")[1]] == sorted(values, reverse=True)
    j, _ = _column(browser, "submission")
    browser.find_elements("css selector", "table.board thead th")[j].click()
    subs = _column(browser, "submission")[1]
    assert subs == sorted(subs) and subs[0] == "baseline"
    rows = browser.find_elements("css selector", "table.board tbody tr")
    Select(browser.find_element("id", "f-method")).select_by_value("my_method")
    shown = [r for r in rows if r.is_displayed()]
    assert len(shown) == 4 and len(rows) == 8  # two submissions × two targets
    assert {c for c in _column(browser, "method")[1]} == {"my_method"}
    assert browser.find_element("id", "shown").text == "4"
    Select(browser.find_element("id", "f-task")).select_by_value("synth_text_mid")
    assert (
        set(_column(browser, "task")[1]) == {"synth_text_mid"}
        and len(_column(browser, "task")[1]) == 2
    )
    Select(browser.find_element("id", "f-method")).select_by_value("")
    Select(browser.find_element("id", "f-task")).select_by_value("")
    box = browser.find_element("id", "f-text")
    box.send_keys("team-b")
    assert set(_column(browser, "submission")[1]) == {"team-b"}
    box.clear()
    box.send_keys(" ")  # clear() fires no input event; typing does
    assert len([r for r in rows if r.is_displayed()]) == 8
    link = rows[0].find_element("css selector", "a")
    target = link.get_attribute("href").split("#")[1]
    link.click()
    section = browser.find_element("id", target)
    text = section.text
    assert (
        "transferbench" in text and "torch" in text and "synth_text" in text
    )  # code, libraries, data
    assert section.find_elements("css selector", "tbody tr")  # one line per run of the row
