"""Malformed input thrown at `transferbench` the way a user would: values outside their domain
(flags and suite YAML), task names that would escape the cache, corrupt cache entries, files in
`runs/` that are not records, unusable output folders, failing runs, unknown names, and bad
`inspect` / `validate` arguments.

Every case expects a non-zero exit (2 for a user error, with stderr starting "error: "; 1 for a
suite with failed runs), no Python traceback, a message naming the culprit, records written
before left byte-for-byte unchanged, and, where the mistake can be seen before training, no
training at all."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import copy  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from harness.cli import main  # noqa: E402

TINY = (
    "--targets",
    "synth_text_near",
    "--methods",
    "scratch",
    "--seeds",
    "0",
    "--limit",
    "32",
    "--num_train_epochs",
    "1",
)
SOURCED = (
    "--targets",
    "synth_text_near",
    "--sources",
    "synth_text_anchor",
    "--methods",
    "feature_extraction,finetune",
    "--seeds",
    "0",
    "--limit",
    "32",
    "--num_train_epochs",
    "1",
)


# --- helpers (the same conventions as tests/test_cli.py) ---------------------------------------


def _show(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-2500:]}"


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, _show(proc)


def assert_user_error(proc: subprocess.CompletedProcess, *expected: str, code: int = 2) -> None:
    assert_no_traceback(proc)
    assert proc.returncode == code, _show(proc)
    assert proc.stderr.startswith("error: "), _show(proc)
    for text in expected:
        assert text in proc.stderr, f"{text!r} not named\n{_show(proc)}"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "TRANSFERBENCH_DATA_DIR" in os.environ:
        monkeypatch.delenv("TRANSFERBENCH_DATA_DIR")


@pytest.fixture
def trainings(monkeypatch) -> list[int]:
    """Counts the training loops started (the inner loop every training goes through)."""
    import harness.training as training

    calls: list[int] = []
    real = training._fit

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_fit", spy)
    return calls


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> tuple[Path, Path]:
    """A results folder with one good record of the TINY run, and its cache."""
    root = tmp_path_factory.mktemp("warm")
    out, cache = root / "out", root / "cache"
    assert main(["run", *TINY, "--output_dir", str(out), "--cache_dir", str(cache)]) == 0
    assert len(list((out / "runs").glob("*.json"))) == 1
    return out, cache


@pytest.fixture
def results(warm, tmp_path) -> Path:
    """A copy of the good results folder (one record) to point a bad command at."""
    out = tmp_path / "results"
    shutil.copytree(warm[0], out)
    return out


def good_record(results: Path) -> Path:
    (path,) = sorted((results / "runs").glob("*.json"))
    return path


# --- 1. values outside their domain ------------------------------------------------------------

FLAG_CASES = [
    (["--num_train_epochs", "0"], ["num_train_epochs"]),
    (["--num_train_epochs", "-1"], ["num_train_epochs", "-1"]),
    (["--gradient_accumulation_steps", "0"], ["gradient_accumulation_steps"]),
    (["--warmup_ratio", "1.5"], ["warmup_ratio", "1.5"]),
    (["--learning_rate", "-1"], ["learning_rate", "-1"]),
    (["--learning_rate", "nan"], ["learning_rate", "nan"]),
    (["--weight_decay", "-0.5"], ["weight_decay", "-0.5"]),
    (["--per_device_train_batch_size", "0"], ["per_device_train_batch_size"]),
    (["--max_steps", "-5"], ["max_steps", "-5"]),
    (["--lr_scheduler_type", "bogus"], ["lr_scheduler_type", "bogus"]),
    (["--limit", "0"], ["limit"]),
    (["--limit", "-3"], ["limit", "-3"]),
    (["--seeds", "1.5"], ["seeds", "1.5"]),
    (["--seeds", "0,0"], ["seeds", "duplicate"]),
    (["--seeds", ","], ["seeds"]),
    (["--seeds", "-1"], ["seeds", "-1"]),
    (["--seed", "-1"], ["seeds", "-1"]),
    (["--fractions", "0"], ["fractions"]),
    (["--fractions", "1.5"], ["fractions", "1.5"]),
    (["--fractions", "half"], ["fractions", "half"]),
]


@pytest.mark.parametrize(("flags", "named"), FLAG_CASES, ids=lambda v: " ".join(v))
def test_flag_outside_its_domain(flags, named, results, tmp_path, run_main, trainings):
    before = snapshot(results)
    proc = run_main(
        "run", *TINY, *flags, "--output_dir", results, "--cache_dir", tmp_path / "cache"
    )
    assert_user_error(proc, *named)
    assert not trainings, "trained although the input was rejected"
    assert snapshot(results) == before


BASE_SUITE = {
    "name": "bad",
    "backbones": [{"name": "bert-tiny", "max_length": 32, "vocab_size": 1000}],
    "targets": ["synth_text_near"],
    "methods": {"scratch": {}},
    "seeds": [0],
    "limit": 32,
    "budget": {"num_train_epochs": 1},
}


def _set(path: str, value):
    """A patch of BASE_SUITE: `a.b` sets a nested field, `backbones.0.x` the first backbone's."""

    def patch(suite: dict) -> None:
        *head, last = path.split(".")
        node = suite
        for key in head:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value

    return patch


SUITE_CASES = [
    ("budget.num_train_epochs", 0, ["bad.yaml", "num_train_epochs"]),
    ("budget.num_train_epochs", -1, ["bad.yaml", "num_train_epochs", "-1"]),
    ("budget.gradient_accumulation_steps", 0, ["bad.yaml", "gradient_accumulation_steps"]),
    ("budget.warmup_ratio", 1.5, ["bad.yaml", "warmup_ratio", "1.5"]),
    ("budget.learning_rate", -1, ["bad.yaml", "learning_rate", "-1"]),
    ("budget.per_device_train_batch_size", 0, ["bad.yaml", "per_device_train_batch_size"]),
    ("budget.max_steps", -5, ["bad.yaml", "max_steps", "-5"]),
    ("budget.lr_scheduler_type", "bogus", ["bad.yaml", "lr_scheduler_type", "bogus"]),
    ("budget", 5, ["bad.yaml", "budget"]),
    ("source_budget.learning_rate", -1, ["bad.yaml", "source_budget", "learning_rate"]),
    ("limit", "lots", ["bad.yaml", "limit", "lots"]),
    ("limit", 0, ["bad.yaml", "limit"]),
    ("limit", -3, ["bad.yaml", "limit", "-3"]),
    ("source_seed", "abc", ["bad.yaml", "source_seed", "abc"]),
    ("backbones.0.max_length", -4, ["bad.yaml", "max_length", "-4"]),
    ("backbones.0.pooling", "bogus", ["bad.yaml", "pooling", "bogus"]),
    ("backbones", [3], ["bad.yaml", "backbones"]),
    ("seeds", [0, 0], ["bad.yaml", "seeds", "duplicate"]),
    ("seeds", [0.5], ["bad.yaml", "seeds", "0.5", "not rounded"]),  # once run as seed 0
    ("seeds", [-2], ["bad.yaml", "seeds", "-2"]),
    ("fractions", [0], ["bad.yaml", "fractions"]),
    ("targets", 7, ["bad.yaml", "targets"]),
    ("epochs", 3, ["bad.yaml", "epochs"]),  # an unknown top-level field
    ("methods", 5, ["bad.yaml", "methods"]),
    (
        "methods",
        {"scratch": 3},
        ["bad.yaml", "scratch"],
    ),  # a method's settings that are not a mapping
    (
        "methods",
        {"finetune": {"freez_first_n": 1}},
        ["bad.yaml", "freez_first_n", "freeze_first_n"],
    ),
    ("methods", {"finetune": {"freeze_first_n": -2}}, ["bad.yaml", "freeze_first_n", "-2"]),
    # an unknown name: the name and a suggestion suffice (as for --methods)
    ("methods", {"mine": {"method": "finetun"}}, ["finetun", "finetune"]),
    ("max_train_samples", 0, ["bad.yaml", "max_train_samples"]),
    ("max_test_samples", -1, ["bad.yaml", "max_test_samples", "-1"]),
    (
        "methods",
        {"scratch": {"targets": ["synth_text_far"]}},
        ["bad.yaml", "scratch", "targets", "synth_text_far"],
    ),
    ("methods", {"scratch": {"targets": []}}, ["bad.yaml", "scratch", "targets"]),
    ("similarity_method", "finetune", ["bad.yaml", "similarity_method", "finetune", "scratch"]),
]


@pytest.mark.parametrize(
    ("field", "value", "named"), SUITE_CASES, ids=[f"{f}={v!r}" for f, v, _ in SUITE_CASES]
)
def test_suite_yaml_value_outside_its_domain(
    field, value, named, results, tmp_path, run_main, trainings
):
    suite = copy.deepcopy(BASE_SUITE)
    _set(field, value)(suite)
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(suite))
    before = snapshot(results)
    proc = run_main(
        "run", "--config", config, "--output_dir", results, "--cache_dir", tmp_path / "cache"
    )
    assert_user_error(proc, *named)
    assert not trainings, "trained although the suite was rejected"
    assert snapshot(results) == before


def test_suite_yaml_that_is_a_list(tmp_path, run_main):
    config = tmp_path / "bad.yaml"
    config.write_text("- synth_text_near\n- scratch\n")
    assert_user_error(run_main("run", "--config", config, "--dry_run"), "bad.yaml", "mapping")


def test_suite_yaml_with_a_syntax_error(tmp_path, run_main):
    config = tmp_path / "bad.yaml"
    config.write_text("targets: [synth_text_near\nmethods: {scratch: {}}\n")
    assert_user_error(run_main("run", "--config", config, "--dry_run"), "bad.yaml", "line")


# --- 2. task names that would escape the cache and output folders ------------------------------


def _card(name: str, **over) -> dict:
    card = {
        "name": name,
        "version": 1,
        "modality": "text",
        "problem": "classification",
        "inputs": {"text": "sentence"},
        "label": "label",
        "label_names": ["negative", "positive"],
        "splits": {"train": "train", "test": "test"},
        "metrics": ["accuracy"],
        "primary_metric": "accuracy",
        "direction": "max",
        "tags": ["extra"],
        "data": {
            "generator": {
                "function": "tasks.generators.synthetic_text:generate",
                "kwargs": {
                    "kind": "single",
                    "relatedness": 0.9,
                    "task_seed": 7,
                    "family_seed": 0,
                    "n_train": 64,
                    "n_test": 32,
                },
            }
        },
    }
    card.update(over)
    return card


ESCAPING_NAMES = ["../../x", "sub/x", "..", "ABSOLUTE"]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_task_name_that_escapes_is_rejected(name, tmp_path, run_main, trainings):
    if name == "ABSOLUTE":
        name = str(tmp_path / "escaped")
    work = tmp_path / "a" / "b"
    cards, out, cache = work / "cards", work / "out", work / "cache"
    cards.mkdir(parents=True)
    (cards / "evil.yaml").write_text(yaml.safe_dump(_card(name)))
    before = set(snapshot(tmp_path))
    proc = run_main(
        "run",
        "--include_path",
        cards,
        "--targets",
        name,
        "--methods",
        "scratch",
        "--seeds",
        "0",
        "--limit",
        "32",
        "--num_train_epochs",
        "1",
        "--output_dir",
        out,
        "--cache_dir",
        cache,
    )
    outside = [
        p
        for p in set(snapshot(tmp_path)) - before
        if not (tmp_path / p).resolve().is_relative_to(out.resolve())
        and not (tmp_path / p).resolve().is_relative_to(cache.resolve())
    ]
    assert not outside, f"written outside the output and cache folders: {sorted(outside)}"
    assert_user_error(proc, "evil.yaml", "name")
    assert not trainings


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_validate_rejects_a_task_name_that_escapes(name, tmp_path, run_main):
    if name == "ABSOLUTE":
        name = str(tmp_path / "escaped")
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump(_card(name)))
    proc = run_main("validate", tmp_path / "evil.yaml")
    assert_no_traceback(proc)
    assert proc.returncode == 1, _show(proc)
    assert "evil.yaml" in proc.stderr and "'name'" in proc.stderr, _show(proc)


# --- 3. corrupt cache entries are healed ------------------------------------------------------


@pytest.fixture(scope="module")
def sourced(tmp_path_factory) -> tuple[Path, Path]:
    """Records and a full cache (tokenizer, encoded splits, a source encoder, features)."""
    root = tmp_path_factory.mktemp("sourced")
    out, cache = root / "out", root / "cache"
    assert main(["run", *SOURCED, "--output_dir", str(out), "--cache_dir", str(cache)]) == 0
    return out, cache


def _scores(out: Path) -> dict[str, tuple[str, float]]:
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    return {r["run_id"]: (r["status"], r.get("primary_score")) for r in records}


def _corrupt(cache: Path, pattern: str) -> list[Path]:
    files = sorted(cache.glob(pattern))
    assert files, f"nothing matches {pattern} under {cache}"
    for f in files:
        f.write_bytes(f.read_bytes()[:5])
    return files


CACHE_FILES = [
    "encoded/synth_text_near-*/data.arrow",  # the target's splits (each run loads them)
    "tokenizers/*/tokenizer.json",
    "features/*/features.pt",
    "sources/*/encoder.pt",
    "sources/*/meta.json",
]


@pytest.mark.parametrize("pattern", CACHE_FILES)
def test_corrupt_cache_entry_is_healed(pattern, sourced, tmp_path, run_main, caplog):
    cache = tmp_path / "cache"
    shutil.copytree(sourced[1], cache)
    corrupted = _corrupt(cache, pattern)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        proc = run_main("run", *SOURCED, "--output_dir", out, "--cache_dir", cache)
    assert_no_traceback(proc)
    assert proc.returncode == 0, _show(proc)
    said = caplog.text + proc.stderr + proc.stdout
    for f in corrupted:
        assert f.parent.name in said, f"the heal of {f.parent} is not reported\n{said[-3000:]}"
        assert f.stat().st_size > 5, f"{f} was not rebuilt"
    assert _scores(out) == _scores(sourced[0])  # a healed entry scores as the original did


def test_corrupt_cache_with_rerun_failed_into_the_same_output(sourced, tmp_path, run_main, caplog):
    cache, out = tmp_path / "cache", tmp_path / "out"
    shutil.copytree(sourced[1], cache)
    shutil.copytree(sourced[0], out)
    records = {
        json.loads(p.read_text())["spec"]["method"]: p for p in (out / "runs").glob("*.json")
    }
    failed = json.loads(records["finetune"].read_text())
    failed.update(status="failed", error="RuntimeError: simulated")
    records["finetune"].write_text(json.dumps(failed, indent=2))
    fe_before = records["feature_extraction"].read_bytes()
    corrupted = _corrupt(cache, "sources/*/encoder.pt")
    with caplog.at_level(logging.WARNING):
        proc = run_main(
            "run", *SOURCED, "--output_dir", out, "--cache_dir", cache, "--rerun_failed"
        )
    assert_no_traceback(proc)
    assert proc.returncode == 0, _show(proc)
    assert corrupted[0].parent.name in caplog.text + proc.stderr + proc.stdout
    assert records["feature_extraction"].read_bytes() == fe_before
    assert _scores(out) == _scores(sourced[0])


# --- 4. files in runs/ that are not records ---------------------------------------------------


def _bad_record(kind: str, good: dict) -> bytes:
    def edited(**changes) -> bytes:
        return json.dumps({**good, "run_id": "x", **changes}).encode()

    return {
        "int": b"3",
        "empty_object": b"{}",
        "list": b"[]",
        "future_schema": b'{"schema_version": 999}',
        "null_score": edited(primary_score=None),
        "empty_spec": edited(spec={}),
        "string_schema": edited(schema_version="1"),
        "unknown_status": edited(status="maybe"),
        "invalid_json": b"{not json",
        "truncated": json.dumps(good).encode()[:200],
        "binary": b"\xff\xfe\x00\x01\x80",
    }[kind]


BAD_RECORDS = [
    "int",
    "empty_object",
    "list",
    "future_schema",
    "null_score",
    "empty_spec",
    "string_schema",
    "unknown_status",
    "invalid_json",
    "truncated",
    "binary",
]


@pytest.fixture
def polluted(request, results) -> tuple[Path, Path, bytes]:
    good = good_record(results)
    (results / "runs" / "x.json").write_bytes(
        _bad_record(request.param, json.loads(good.read_text()))
    )
    return results, good, good.read_bytes()


@pytest.mark.parametrize("polluted", BAD_RECORDS, indirect=True)
def test_leaderboard_names_a_bad_record(polluted, run_main):
    results, good, good_bytes = polluted
    proc = run_main("leaderboard", "--results", results)
    assert_user_error(proc, "x.json")
    assert good.read_bytes() == good_bytes


@pytest.mark.parametrize("polluted", ["int", "invalid_json"], indirect=True)
def test_report_names_a_bad_record_as_leaderboard_does(polluted, run_main):
    """`report` wrote its page and exited 0 over a runs folder that `leaderboard` refuses."""
    results, _, _ = polluted
    proc = run_main("report", "--results", results)
    assert_user_error(proc, "x.json")


@pytest.mark.parametrize("polluted", BAD_RECORDS, indirect=True)
def test_leaderboard_skip_corrupt_reports_and_goes_on(polluted, run_main):
    results, good, good_bytes = polluted
    proc = run_main("leaderboard", "--results", results, "--skip_corrupt")
    assert_no_traceback(proc)
    assert proc.returncode == 0, _show(proc)
    assert "x.json" in proc.stdout + proc.stderr, _show(proc)
    assert "| scratch" in proc.stdout and "synth_text_near" in proc.stdout, _show(proc)
    assert good.read_bytes() == good_bytes


@pytest.mark.parametrize("polluted", BAD_RECORDS, indirect=True)
def test_run_into_a_folder_with_a_bad_record(polluted, tmp_path, run_main):
    results, good, good_bytes = polluted
    proc = run_main("run", *TINY, "--output_dir", results, "--cache_dir", tmp_path / "cache")
    assert_no_traceback(proc)
    assert "x.json" in proc.stdout + proc.stderr, _show(proc)
    assert good.read_bytes() == good_bytes


# --- 5. output problems -----------------------------------------------------------------------


def test_output_dir_is_a_file(tmp_path, run_main, trainings):
    out = tmp_path / "out.txt"
    out.write_text("not a folder\n")
    proc = run_main("run", *TINY, "--output_dir", out, "--cache_dir", tmp_path / "cache")
    assert_user_error(proc, str(out))
    assert not trainings
    assert out.read_text() == "not a folder\n"


def test_cache_dir_is_a_file(tmp_path, run_main, trainings):
    cache = tmp_path / "cache.txt"
    cache.write_text("not a folder\n")
    proc = run_main("run", *TINY, "--output_dir", tmp_path / "out", "--cache_dir", cache)
    assert_user_error(proc, str(cache))
    assert not trainings
    assert cache.read_text() == "not a folder\n"


def test_read_only_output_dir_is_reported_before_training(results, tmp_path, run_main, trainings):
    before = snapshot(results)
    results.chmod(0o555)
    try:
        if os.access(results, os.W_OK):
            pytest.skip("chmod does not stop this user writing (root)")
        proc = run_main(
            "run", *TINY, "--seeds", "1", "--output_dir", results, "--cache_dir", tmp_path / "c"
        )
    finally:
        results.chmod(0o755)
    assert_user_error(proc, str(results))
    assert not trainings, "trained before finding the output folder unwritable"
    assert snapshot(results) == before


def test_runs_folder_is_a_file(tmp_path, run_main, trainings):
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs").write_text("not a folder\n")
    proc = run_main("run", *TINY, "--output_dir", out, "--cache_dir", tmp_path / "cache")
    assert_user_error(proc, str(out / "runs"))
    assert not trainings, "trained before finding that records cannot be written"
    assert (out / "runs").read_text() == "not a folder\n"


def test_unknown_report_to(tmp_path, run_main, trainings):
    proc = run_main(
        "run",
        *TINY,
        "--report_to",
        "bogus",
        "--output_dir",
        tmp_path / "out",
        "--cache_dir",
        tmp_path / "cache",
    )
    assert_user_error(proc, "bogus")
    assert not trainings


def test_leaderboard_results_is_a_file(tmp_path, run_main):
    results = tmp_path / "results.json"
    results.write_text("{}")
    assert_user_error(run_main("leaderboard", "--results", results), str(results))


def test_leaderboard_missing_results(tmp_path, run_main):
    proc = run_main("leaderboard", "--results", tmp_path / "nope")
    assert_user_error(proc, str(tmp_path / "nope"))


def test_leaderboard_output_dir_is_a_file(results, tmp_path, run_main):
    target = tmp_path / "board.txt"
    target.write_text("x")
    before = snapshot(results)
    proc = run_main("leaderboard", "--results", results, "--output_dir", target)
    assert_user_error(proc, str(target))
    assert snapshot(results) == before


# --- 6. a suite with a failing run -------------------------------------------------------------


def test_failing_run_exits_1_and_is_listed_again_on_rerun(tmp_path, run_main):
    suite = {**BASE_SUITE, "methods": {"finetune": {"freeze_first_n": 99}}}
    config = tmp_path / "failing.yaml"
    config.write_text(yaml.safe_dump(suite))
    out = tmp_path / "out"
    args = ("run", "--config", config, "--output_dir", out, "--cache_dir", tmp_path / "cache")
    first = run_main(*args)
    assert_no_traceback(first)
    assert first.returncode == 1, _show(first)
    assert "1 run(s) of this suite FAILED" in first.stdout, _show(first)
    assert "freeze_first_n" in first.stdout, _show(first)
    assert first.stderr.rstrip().splitlines()[-1].startswith("error: "), _show(first)
    recorded = snapshot(out / "runs")
    assert len(recorded) == 1
    assert json.loads(next(iter(recorded.values())))["status"] == "failed"

    again = run_main(*args)
    assert_no_traceback(again)
    assert again.returncode == 1, _show(again)
    assert "recorded earlier" in again.stdout and "freeze_first_n" in again.stdout, _show(again)
    assert snapshot(out / "runs") == recorded


# --- 7. unknown names and broken cards --------------------------------------------------------

NAME_CASES = [
    (["--targets", "synth_text_nearr"], ["unknown task 'synth_text_nearr'", "synth_text_near"]),
    (["--sources", "synth_text_anchr"], ["unknown task 'synth_text_anchr'", "synth_text_anchor"]),
    (["--methods", "scratchh"], ["unknown method 'scratchh'", "scratch"]),
    (["--backbone", "bert-tinyy"], ["unknown backbone 'bert-tinyy'", "bert-tiny"]),
]


@pytest.mark.parametrize(("flags", "named"), NAME_CASES, ids=lambda v: " ".join(v))
def test_unknown_name(flags, named, results, tmp_path, run_main, trainings):
    before = snapshot(results)
    proc = run_main(
        "run", *TINY, *flags, "--output_dir", results, "--cache_dir", tmp_path / "cache"
    )
    assert_user_error(proc, *named)
    assert not trainings
    assert snapshot(results) == before


def test_unknown_suite(run_main, trainings):
    assert_user_error(run_main("run", "--suite", "quik"), "unknown suite 'quik'", "quick")
    assert not trainings


def _without(key: str) -> dict:
    card = _card("my_task")
    del card[key]
    return card


BAD_CARDS = {
    "unknown_metric": (
        yaml.safe_dump(_card("my_task", metrics=["accuracy", "accuracyy"])),
        ["metrics", "accuracyy"],
    ),
    "primary_not_in_metrics": (
        yaml.safe_dump(_card("my_task", primary_metric="f1")),
        ["primary_metric", "f1"],
    ),
    "missing_label": (yaml.safe_dump(_without("label")), ["'label'", "missing"]),
    "missing_data": (yaml.safe_dump(_without("data")), ["'data'", "missing"]),
    "bad_yaml": ("name: my_task\nversion: 1\n  modality: text\n", ["line 3"]),
    "not_a_mapping": ("- name\n- my_task\n", ["mapping"]),
    "empty": ("", ["empty"]),
    "binary": ("\udcff", []),  # written as bytes below
    "duplicate_name": (yaml.safe_dump(_card("synth_text_near")), ["synth_text_near", "already"]),
    "missing_include": ("include: nope.yaml\n", ["include", "nope.yaml"]),
    "bad_modality": (yaml.safe_dump(_card("my_task", modality="audio")), ["modality", "audio"]),
    "bad_version": (yaml.safe_dump(_card("my_task", version=[1, 2])), ["version"]),
    "bad_generator_kwargs": (
        yaml.safe_dump(
            _card(
                "my_task",
                data={
                    "generator": {
                        "function": "tasks.generators.synthetic_text:generate",
                        "kwargs": 5,
                    }
                },
            )
        ),
        ["kwargs"],
    ),
}


def _write_bad_card(kind: str, folder: Path) -> Path:
    folder.mkdir()
    card = folder / "my_card.yaml"
    if kind == "binary":
        card.write_bytes(b"\xff\xfe\x00name: x\n")
    else:
        card.write_text(BAD_CARDS[kind][0])
    return card


@pytest.mark.parametrize("kind", sorted(BAD_CARDS))
def test_broken_card_the_suite_needs_fails_before_training(kind, tmp_path, run_main, trainings):
    """A run whose suite names the broken card (by its name where the card still says it)
    stops before training, naming the file and what is wrong."""
    named = BAD_CARDS[kind][1]
    cards = tmp_path / "cards"
    _write_bad_card(kind, cards)
    target = "synth_text_near" if kind == "duplicate_name" else "my_task"
    flags = [*TINY]
    flags[flags.index("synth_text_near")] = target
    out = tmp_path / "out"
    proc = run_main(
        "run", "--include_path", cards, *flags, "--output_dir", out, "--cache_dir", tmp_path / "c"
    )
    assert_user_error(proc, "my_card.yaml", *named)
    assert not trainings
    assert not out.exists()


@pytest.mark.parametrize("kind", ["unknown_metric", "bad_yaml", "empty"])
def test_a_broken_card_the_suite_does_not_need_is_named_and_the_rest_runs(
    kind, tmp_path, run_main, caplog
):
    """One invalid card in an include folder no longer blocks the others: the run names it
    (file and problem) and goes on, since its suite does not use it."""
    cards = tmp_path / "cards"
    _write_bad_card(kind, cards)
    (cards / "fine.yaml").write_text(yaml.safe_dump(_card("fine_task")))
    proc = run_main("run", "--include_path", cards, *TINY, "--dry_run")
    assert_no_traceback(proc)
    assert proc.returncode == 0, _show(proc)
    assert "synth_text_near" in proc.stdout and "1 run(s)" in proc.stdout, _show(proc)
    warned = caplog.text  # a WARNING on stderr: "left out 1 invalid card(s)", file and problem
    assert "left out 1 invalid card(s)" in warned and "my_card.yaml" in warned
    assert all(text in warned for text in BAD_CARDS[kind][1]), warned


# --- 8. inspect and validate ------------------------------------------------------------------


def test_inspect_unknown_task(run_main):
    assert_user_error(run_main("inspect", "synth_txt_near"), "unknown task 'synth_txt_near'")


def test_inspect_missing_include_path(tmp_path, run_main):
    proc = run_main("inspect", "synth_text_near", "--include_path", tmp_path / "nope")
    assert_user_error(proc, str(tmp_path / "nope"))


def test_inspect_a_generator_only_task_from_local(run_main):
    proc = run_main("inspect", "synth_text_near", "--source", "local")
    assert_user_error(proc, "synth_text_near", "local")


GENERATORS = {
    "missing_module": ("no_such_module_xyz:make", None, ["no_such_module_xyz"]),
    "missing_file": ("nope.py:make", None, ["nope.py"]),
    "missing_function": ("gen.py:nothere", "def make():\n    return {}\n", ["nothere"]),
    "returns_garbage": ("gen.py:make", "def make():\n    return 5\n", ["gen.py"]),
    "raises": ("gen.py:make", "def make():\n    raise ValueError('boom')\n", ["boom"]),
    "missing_column": (
        "gen.py:make",
        "import datasets\n\ndef make():\n"
        "    d = datasets.Dataset.from_dict({'other': ['a', 'b'], 'label': [0, 1]})\n"
        "    return {'train': d, 'test': d}\n",
        ["sentence"],
    ),
}


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_inspect_a_broken_generator(kind, tmp_path, run_main):
    function, source, named = GENERATORS[kind]
    cards = tmp_path / "cards"
    cards.mkdir()
    card = _card("gen_task", data={"generator": {"function": function}})
    (cards / "gen_card.yaml").write_text(yaml.safe_dump(card))
    if source:
        (cards / "gen.py").write_text(source)
    proc = run_main("inspect", "gen_task", "--include_path", cards)
    assert_user_error(proc, *named)
    assert "gen_card.yaml" in proc.stderr or "gen_task" in proc.stderr, _show(proc)  # which card


def test_validate_missing_path(tmp_path, run_main):
    proc = run_main("validate", tmp_path / "no" / "such")
    assert_no_traceback(proc)
    assert proc.returncode == 1 and str(tmp_path / "no" / "such") in proc.stderr, _show(proc)


@pytest.mark.parametrize("kind", sorted(BAD_CARDS))
def test_validate_a_broken_card(kind, tmp_path, run_main):
    text, named = BAD_CARDS[kind]
    card = tmp_path / "my_card.yaml"
    if kind == "binary":
        card.write_bytes(b"\xff\xfe\x00name: x\n")
    else:
        card.write_text(text)
    if kind == "duplicate_name":  # a duplicate of a card in the same folder
        (tmp_path / "first.yaml").write_text(yaml.safe_dump(_card("synth_text_near")))
    proc = run_main("validate", tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 1, _show(proc)
    for text in ["my_card.yaml", *named]:
        assert text in proc.stderr, f"{text!r} not named\n{_show(proc)}"


def test_validate_an_include_cycle(tmp_path, run_main):
    (tmp_path / "a.yaml").write_text("include: b.yaml\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\n")
    proc = run_main("validate", tmp_path / "a.yaml")
    assert_no_traceback(proc)
    assert proc.returncode == 1 and "cycle" in proc.stderr, _show(proc)


@pytest.mark.parametrize("rows", ["0", "1", "-5"])
def test_similarity_with_too_few_rows_is_an_error_not_a_folder_of_nan(rows, tmp_path, run_main):
    out = tmp_path / "sim"
    proc = run_main(
        "similarity",
        "--tasks",
        "synth_text_near,synth_text_far",
        "--max_rows",
        rows,
        "--output_dir",
        out,
        "--cache_dir",
        tmp_path / "cache",
    )
    assert_user_error(proc, "--max_rows")
    assert not out.exists() or not any(out.rglob("*.csv"))


@pytest.mark.parametrize(
    ("kw", "named"),
    [
        (
            {"sources": ["synth_image_anchor"], "methods": {"finetune": {}}},
            ["synth_image_anchor", "image", "synth_text_near", "text"],
        ),
        (
            {"sources": ["synth_text_near"], "methods": {"finetune": {}}},
            ["synth_text_near", "its own source"],
        ),
    ],
)
def test_an_empty_grid_says_what_is_actually_wrong(kw, named):
    """It said "no backbone matches the targets' modalities" for both."""
    from suitekit import suite

    from harness.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        suite(**kw)
    assert all(n in str(err.value) for n in named) and "no backbone" not in str(err.value)


def test_a_leaderboard_into_a_folder_it_may_not_write_is_an_error_not_a_traceback(
    results, run_main, monkeypatch
):
    """As root, chmod does not stop a write, so the refusal the file system gives a user is
    made here: it ended in a PermissionError traceback."""
    real = Path.write_text

    def refuse(self, *a, **k):
        if self.parent == results or results in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", refuse)
    proc = run_main("leaderboard", "--results", results)
    assert_user_error(proc, str(results))
    assert "permission denied" in proc.stderr and "Traceback" not in proc.stderr
