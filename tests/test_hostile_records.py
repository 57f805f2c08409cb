"""Hostile inputs around run records and the JSON files the workflows read (issue #18).

- records are strict JSON: a non-finite metric is written as null (the field kept, the record
  kept and still ranked); a non-finite primary score keeps the record as a failed run; a
  non-finite setting is refused at write time, naming the field
- `validate-submission --rerun 0` (or negative) is an error naming `--rerun`
- a JSON file nested 100,000 levels deep is an error naming the file (no RecursionError
  traceback) wherever a workflow reads user JSON: submissions, the submissions leaderboard,
  compare and history (records)
- `compare` names a successful record whose metrics are `{}`
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from harness.errors import DataError
from harness.records import load_records, read_record, write_record
from harness.spec import RunSpec

BUDGET = {"num_train_epochs": 6.0, "per_device_train_batch_size": 32, "learning_rate": 2e-3}


def make_spec(seed: int = 0, **method_config) -> dict:
    return {
        "backbone": {"name": "bert-tiny", "max_length": 32},
        "sources": [],
        "method": "finetune",
        "variant": "finetune",
        "method_config": method_config,
        "target": "synth_text_near",
        "fraction": 0.2,
        "seed": seed,
        "budget": BUDGET,
        "source_budget": BUDGET,
        "source_seed": 0,
        "limit": None,
        "task_versions": {"synth_text_near": "v1"},
        "task_set": [],
    }


def rec(score: float, seed: int = 0, metrics: dict | None = None, **extra) -> dict:
    spec = make_spec(seed)
    record = {
        "schema_version": 1,
        "run_id": RunSpec.from_dict(spec).id,
        "status": "ok",
        "spec": spec,
        "comparable": True,
        "created": "2026-11-01T02:00:00+00:00",
        "primary_metric": "accuracy",
        "primary_score": score,
        "direction": "max",
        "metrics": {"accuracy": score} if metrics is None else metrics,
    }
    record.update(extra)
    return record


def strict_loads(text: str):
    def refuse(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# --- 1. records are strict JSON ----------------------------------------------------------------


def test_a_nan_metric_is_written_as_null_and_the_record_still_ranks(tmp_path, run_main):
    out = tmp_path / "results"
    record = rec(
        0.8,
        metrics={"accuracy": 0.8, "f1": math.nan},
        curve=[{"epoch": 1, "loss": math.inf}],
        extra={"gap": -math.inf, "ok": 1.5},
        throughput=math.nan,
    )
    for seed in (1, 2):
        write_record(rec(0.8 + seed / 100, seed), out)
    path = write_record(record, out)
    text = path.read_text()
    loaded = strict_loads(text)  # standard JSON: no NaN / Infinity tokens
    assert "f1" in loaded["metrics"] and loaded["metrics"]["f1"] is None
    assert loaded["metrics"]["accuracy"] == 0.8 and loaded["status"] == "ok"
    assert loaded["curve"][0]["loss"] is None and loaded["extra"] == {"gap": None, "ok": 1.5}
    assert loaded["throughput"] is None
    assert sorted(loaded["non_finite"]) == [
        "curve[0].loss",
        "extra.gap",
        "metrics.f1",
        "throughput",
    ]
    assert record["metrics"]["f1"] != record["metrics"]["f1"]  # the caller's dict is left as it was
    assert read_record(path)["metrics"]["f1"] is None
    board = run_main("leaderboard", "--results", out)
    assert board.returncode == 0, board.stderr
    assert "synth_text_near" in board.stdout and "0.8100" in board.stdout
    assert "Traceback" not in board.stderr


def test_compare_and_history_read_a_null_metric(tmp_path, run_main):
    nights = []
    for night, day in enumerate(("01", "02", "03")):
        folder = tmp_path / f"night{night}"
        for seed in range(3):
            write_record(
                {
                    **rec(
                        0.8 + seed / 100,
                        seed,
                        metrics={"accuracy": 0.8 + seed / 100, "f1": math.nan},
                    ),
                    "created": f"2026-11-{day}T02:00:00+00:00",
                },
                folder,
            )
        nights.append(folder)
    cmp = run_main("compare", "--reference", nights[0], "--results", nights[1])
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr
    hist = run_main("history", *nights, "--output_dir", tmp_path / "history")
    assert hist.returncode == 0, hist.stdout + hist.stderr
    assert "Traceback" not in cmp.stderr + hist.stderr


def test_a_nan_primary_score_keeps_the_record_as_a_failed_run(tmp_path, run_main):
    out = tmp_path / "results"
    path = write_record(rec(math.nan, metrics={"accuracy": math.nan, "f1": 0.5}), out)
    loaded = strict_loads(path.read_text())
    assert loaded["status"] == "failed" and loaded["primary_score"] is None
    assert "accuracy" in loaded["error"] and "nan" in loaded["error"]
    assert loaded["metrics"] == {"accuracy": None, "f1": 0.5}  # what was measured is kept
    assert load_records(out)[0][0]["run_id"] == loaded["run_id"]  # it reads: not taken as corrupt
    board = run_main("leaderboard", "--results", out)
    assert board.returncode == 0 and "Traceback" not in board.stderr


def test_a_non_finite_setting_is_refused_naming_the_field(tmp_path):
    spec = make_spec(temperature=math.inf)
    record = {**rec(0.8), "spec": spec, "run_id": RunSpec.from_dict(spec).id}
    with pytest.raises(DataError, match=r"spec\.method_config\.temperature.*inf"):
        write_record(record, tmp_path)
    assert not list((tmp_path / "runs").glob("*.json"))  # nothing half-written


# --- 2. --rerun out of range -------------------------------------------------------------------


@pytest.mark.parametrize("k", ["0", "-2"])
def test_validate_submission_rerun_below_one_is_an_error(k, tmp_path, run_main):
    proc = run_main("validate-submission", tmp_path / "any.json", "--rerun", k)
    assert proc.returncode == 2
    assert f"--rerun {k}" in proc.stderr and ">= 1" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- 3. deeply nested JSON ---------------------------------------------------------------------


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "text",
    [DEEP, '{"runs": ' + DEEP + "}", '{"runs": ' + "[" * 500 + "]" * 500 + "}"],
    ids=["list", "in-an-object", "500-levels"],
)
def test_a_deeply_nested_submission_is_named(text, tmp_path, run_main):
    path = tmp_path / "deep.json"
    path.write_text(text)
    proc = run_main("validate-submission", path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert str(path) in proc.stdout and "nested deeper than" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_submissions_leaderboard_skips_a_deeply_nested_file(tmp_path, run_main):
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "deep.json").write_text(DEEP)
    proc = run_main("leaderboard", "--submissions", folder, "--output_dir", tmp_path / "board")
    assert proc.returncode == 2  # no valid submission to rank
    assert "deep.json" in proc.stderr and "nested deeper than" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_compare_and_history_name_a_deeply_nested_record(tmp_path, run_main):
    good = tmp_path / "good"
    for seed in range(3):
        write_record(rec(0.8, seed), good)
    bad = tmp_path / "bad"
    write_record(rec(0.8), bad)
    deep = bad / "runs" / "deadbeef.json"
    deep.write_text(DEEP)
    with pytest.raises(DataError, match="deadbeef.json.*nested deeper than"):
        read_record(deep)
    for proc in (
        run_main("compare", "--reference", good, "--results", bad),
        run_main("history", good, bad, "--order", "given", "--output_dir", tmp_path / "h"),
    ):
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "deadbeef.json" in proc.stderr and "nested deeper than" in proc.stderr
        assert "Traceback" not in proc.stderr


# --- 4. compare: a successful record without metrics -------------------------------------------


@pytest.mark.parametrize("metrics", [{}, {"f1": 0.5}, None], ids=["empty", "no-primary", "missing"])
def test_compare_names_a_record_without_its_metrics(metrics, tmp_path, run_main):
    ref, new = tmp_path / "ref", tmp_path / "new"
    for seed in range(3):
        write_record(rec(0.8 + seed / 100, seed), ref)
        record = rec(0.8 + seed / 100, seed)
        if seed == 1:
            if metrics is None:
                del record["metrics"]
            else:
                record["metrics"] = copy.deepcopy(metrics)
            bad_id = record["run_id"]
        write_record(record, new)
    proc = run_main("compare", "--reference", ref, "--results", new)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert bad_id in proc.stderr and "'metrics'" in proc.stderr
    assert "Traceback" not in proc.stderr
