"""The nightly regression workflow: `transferbench compare` on hand-made records (what passes,
what fails, and that the tolerance comes from the seed spread), the committed reference of the
`nightly` suite (clean against itself and against a real re-run), `transferbench history`
(injected drift flagged, noise not), and the CI workflow file.

Hand-computed tolerances: three seeds a side with sample s.d. s each give
SE = √(s²/3 + s²/3), Welch df = 4 and t(0.99; 4) = 3.746947."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.records import RUNS_DIR, find_records, read_record, write_record
from harness.spec import RunSpec, spec_of
from harness.workflows.compare import judge, noise_bound
from harness.workflows.history import drift_test

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference" / "nightly"
BUDGET = {"num_train_epochs": 6.0, "per_device_train_batch_size": 32, "learning_rate": 2e-3}
T99_4 = 3.746947  # t(0.99; 4)


# --- hand-made records ----------------------------------------------------------------------


def make_spec(
    variant="finetune",
    method=None,
    sources=(),
    target="synth_text_near",
    fraction=0.2,
    seed=0,
    budget=None,
    task_set=(),
):
    return {
        "backbone": {"name": "bert-tiny", "max_length": 32},
        "sources": list(sources),
        "method": method or variant,
        "variant": variant,
        "method_config": {},
        "target": target,
        "fraction": fraction,
        "seed": seed,
        "budget": budget or BUDGET,
        "source_budget": BUDGET,
        "source_seed": 0,
        "limit": None,
        "task_versions": {target: "v1"},
        "task_set": list(task_set),
    }


def rec(
    score,
    *,
    metric="accuracy",
    direction="max",
    metrics=None,
    status="ok",
    created="2026-11-01T02:00:00+00:00",
    **spec_kw,
):
    spec = make_spec(**spec_kw)
    record = {
        "schema_version": 1,
        "run_id": RunSpec.from_dict(spec).id,
        "status": status,
        "spec": spec,
        "comparable": True,
        "created": created,
    }
    if status == "ok":
        record.update(
            primary_metric=metric,
            primary_score=score,
            direction=direction,
            metrics={metric: score, **(metrics or {})},
        )
    else:
        record["error"] = "training diverged (NaN loss at step 3)"
    return record


def seeds(scores, **kw):
    return [rec(s, seed=i, **kw) for i, s in enumerate(scores)]


def write(folder: Path, records) -> Path:
    for r in records:
        write_record(r, folder)
    return folder


def baseline():
    """Three groups of three seeds: fine-tuning, scratch, fine-tuning from a source."""
    return (
        seeds([0.80, 0.81, 0.82])
        + seeds([0.60, 0.61, 0.62], variant="scratch")
        + seeds([0.90, 0.91, 0.92], sources=["synth_text_anchor"])
    )


def replace(records, scores, **where):
    """`records` with the scores of the group matching `where` replaced, seed by seed."""
    out = []
    for r in records:
        s = r["spec"]
        if all((s.get(k) if k != "sources" else s["sources"]) == v for k, v in where.items()):
            r = {
                **r,
                "primary_score": scores[s["seed"]],
                "metrics": {**r["metrics"], r["primary_metric"]: scores[s["seed"]]},
            }
        out.append(r)
    return out


def show(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-2000:]}"


def compare(run_main, ref: Path, new: Path, *extra: object) -> subprocess.CompletedProcess:
    return run_main("compare", "--reference", ref, "--results", new, *extra)


def compare_json(run_main, ref: Path, new: Path, *extra: object) -> tuple[int, dict]:
    proc = compare(run_main, ref, new, "--format", "json", *extra)
    assert "Traceback" not in proc.stderr, show(proc)
    return proc.returncode, json.loads(proc.stdout)


def rows_by(report: dict, **where) -> list[dict]:
    return [r for r in report["rows"] if all(r[k] == v for k, v in where.items())]


# --- the bound itself -----------------------------------------------------------------------


def test_noise_bound_is_welch_t_times_se():
    b = noise_bound([0.80, 0.81, 0.82], [0.75, 0.76, 0.77], alpha=0.01, floor=0.005)
    se = math.sqrt(0.01**2 / 3 + 0.01**2 / 3)  # 0.0081650
    assert b.se == pytest.approx(se) and b.df == pytest.approx(4.0)
    assert b.k == pytest.approx(T99_4, abs=1e-5) and b.tolerance == pytest.approx(
        T99_4 * se, abs=1e-6
    )
    # unequal spreads: Welch–Satterthwaite df between the sides' n − 1 and n1 + n2 − 2
    u = noise_bound([0.5, 0.6, 0.7, 0.8], [0.70, 0.71], alpha=0.05, floor=0.0)
    a, c = np.var([0.5, 0.6, 0.7, 0.8], ddof=1) / 4, np.var([0.70, 0.71], ddof=1) / 2
    assert u.df == pytest.approx((a + c) ** 2 / (a**2 / 3 + c**2 / 1))
    # one seed on a side borrows the other side's spread; one seed on each: the floor only
    one = noise_bound([0.80, 0.81, 0.82], [0.70], floor=0.0)
    assert one.se == pytest.approx(0.01 * math.sqrt(1 / 3 + 1)) and one.df == 2
    assert noise_bound([0.8], [0.7], floor=0.02).tolerance == 0.02
    assert noise_bound([1.0] * 3, [1.0] * 3, floor=0.005).basis == "floor"


def test_judge_respects_the_metric_direction():
    up = [0.50, 0.51, 0.52], [0.60, 0.61, 0.62]
    assert judge(*up, "max")["status"] == "improved"
    assert judge(*up, "min")["status"] == "REGRESSION"  # mse went up by 0.10 > 3.75 · 0.0082
    assert judge(*reversed(up), "min")["status"] == "improved"
    r = judge(*up, "min")
    assert r["change"] == pytest.approx(0.10) and r["p_value"] < 0.01


# --- compare on hand-made records -----------------------------------------------------------


def test_an_unchanged_result_passes(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    new = write(tmp_path / "new", baseline())
    proc = compare(run_main, ref, new)
    assert proc.returncode == 0, show(proc)
    assert "compare: PASS" in proc.stdout and "**0 regression(s)**" in proc.stdout
    assert "9 run(s) matched by spec content; 3 run group(s)" in proc.stdout
    assert "REGRESSION" not in proc.stdout.split("### Run groups")[1]


def test_a_drop_beyond_noise_fails_naming_the_run_and_both_values(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    new = write(
        tmp_path / "new", replace(baseline(), [0.70, 0.71, 0.72], variant="finetune", sources=[])
    )
    proc = compare(run_main, ref, new)
    assert proc.returncode == 1, show(proc)
    assert "compare: FAIL" in proc.stdout and "**1 regression(s)**" in proc.stdout
    section = proc.stdout.split("### Regressions")[1].split("###")[0]
    assert "finetune | none -> synth_text_near | frac 0.2 | bert-tiny" in section
    assert "0.8100 ± 0.0100 (n=3)" in section and "0.7100 ± 0.0100 (n=3)" in section
    assert "-0.1000" in section and f"{T99_4 * math.sqrt(2e-4 / 3):.4f}" in section  # 0.0306
    new_ids = sorted(r["run_id"] for r in seeds([0, 0, 0]))
    assert all(i in section for i in new_ids)  # the runs are named
    # the scratch and sourced groups did not move: ok
    code, report = compare_json(run_main, ref, new)
    assert code == 1 and report["summary"]["regressions"] == 1
    assert {r["status"] for r in rows_by(report, variant="scratch")} == {"ok"}


def test_a_drop_within_noise_passes(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    # −0.02 is less than the tolerance 3.75 · 0.0082 = 0.0306
    new = write(
        tmp_path / "new", replace(baseline(), [0.78, 0.79, 0.80], variant="finetune", sources=[])
    )
    code, report = compare_json(run_main, ref, new)
    assert code == 0
    (row,) = rows_by(report, variant="finetune", source="none")
    assert row["change"] == pytest.approx(-0.02) and row["status"] == "ok"
    assert row["tolerance"] == pytest.approx(T99_4 * math.sqrt(2e-4 / 3), abs=1e-5)


def test_the_tolerance_comes_from_the_seed_spread(tmp_path, run_main):
    """The same change of −0.05: a regression when seeds agree, noise when they scatter."""
    tight = seeds([0.80, 0.81, 0.82]), seeds([0.75, 0.76, 0.77])
    wide = seeds([0.70, 0.81, 0.92]), seeds([0.65, 0.76, 0.87])
    results = {}
    for name, (before, after) in {"tight": tight, "wide": wide}.items():
        ref, new = write(tmp_path / name / "ref", before), write(tmp_path / name / "new", after)
        code, report = compare_json(run_main, ref, new)
        (row,) = report["rows"]
        results[name] = (code, row)
    assert results["tight"][1]["change"] == pytest.approx(results["wide"][1]["change"])
    assert results["tight"][0] == 1 and results["tight"][1]["status"] == "REGRESSION"
    assert results["wide"][0] == 0 and results["wide"][1]["status"] == "ok"
    # tolerance = t(0.99; 4) · √(2 s² / 3): s = 0.01 -> 0.0306, s = 0.11 -> 0.3365
    assert results["tight"][1]["tolerance"] == pytest.approx(0.030594, abs=1e-5)
    assert results["wide"][1]["tolerance"] == pytest.approx(
        T99_4 * 0.11 * math.sqrt(2 / 3), abs=1e-5
    )
    # a looser level widens the bound: the same tight drop passes at alpha 1e-6
    code, _ = compare_json(
        run_main, tmp_path / "tight" / "ref", tmp_path / "tight" / "new", "--alpha", "1e-6"
    )
    assert code == 0


def test_groups_without_seed_spread_are_held_to_the_floor(tmp_path, run_main):
    ref = write(tmp_path / "ref", seeds([1.0, 1.0, 1.0]))
    small = write(tmp_path / "small", seeds([0.998, 0.998, 0.998]))  # −0.002 < floor 0.005
    large = write(tmp_path / "large", seeds([0.99, 0.99, 0.99]))  # −0.010 > floor
    code, report = compare_json(run_main, ref, small)
    assert code == 0 and report["rows"][0]["basis"] == "floor"
    assert report["rows"][0]["tolerance"] == pytest.approx(0.005)
    code, report = compare_json(run_main, ref, large)
    assert code == 1 and report["rows"][0]["status"] == "REGRESSION"
    code, _ = compare_json(run_main, ref, large, "--min_tolerance", "0.02")
    assert code == 0


def test_lower_is_better_metrics(tmp_path, run_main):
    """mse as the primary metric (card direction min) and as a secondary one of a pearson run."""
    kw = {"target": "synth_text_regression"}
    ref = write(
        tmp_path / "ref",
        [
            rec(p, metric="pearson", metrics={"mse": m}, seed=i, **kw)
            for i, (p, m) in enumerate([(0.80, 0.50), (0.81, 0.51), (0.82, 0.52)])
        ],
    )
    worse = write(
        tmp_path / "worse",
        [
            rec(p, metric="pearson", metrics={"mse": m}, seed=i, **kw)
            for i, (p, m) in enumerate([(0.80, 0.60), (0.81, 0.61), (0.82, 0.62)])
        ],
    )
    code, report = compare_json(run_main, ref, worse)
    assert code == 1
    assert rows_by(report, metric="pearson")[0]["status"] == "ok"
    mse = rows_by(report, metric="mse")[0]
    assert mse["direction"] == "min" and mse["status"] == "REGRESSION"
    better = write(
        tmp_path / "better",
        [
            rec(p, metric="pearson", metrics={"mse": m}, seed=i, **kw)
            for i, (p, m) in enumerate([(0.80, 0.40), (0.81, 0.41), (0.82, 0.42)])
        ],
    )
    code, report = compare_json(run_main, ref, better)
    assert code == 0 and rows_by(report, metric="mse")[0]["status"] == "improved"
    prim = write(tmp_path / "prim", seeds([0.50, 0.51, 0.52], metric="mse", direction="min", **kw))
    prim_up = write(
        tmp_path / "prim_up", seeds([0.60, 0.61, 0.62], metric="mse", direction="min", **kw)
    )
    assert compare_json(run_main, prim, prim_up)[0] == 1
    assert compare_json(run_main, prim_up, prim)[0] == 0


def test_missing_and_new_runs_are_reported(tmp_path, run_main):
    ref_records = baseline()
    ref = write(tmp_path / "ref", ref_records)
    dropped = next(
        r for r in ref_records if r["spec"]["variant"] == "scratch" and r["spec"]["seed"] == 2
    )
    added = seeds([0.85, 0.86, 0.87], variant="distill", task_set=["synth_text_anchor"])
    new = write(
        tmp_path / "new", [r for r in baseline() if r["run_id"] != dropped["run_id"]] + added
    )
    proc = compare(run_main, ref, new)
    assert proc.returncode == 0, show(proc)  # reported, not failed (see --fail_on_missing)
    assert "1 run(s) missing from the results, 3 new" in proc.stdout
    missing = proc.stdout.split("### Runs only in the reference (missing from the results)")[1]
    assert dropped["run_id"] in missing.split("###")[0]
    new_part = proc.stdout.split("### Runs only in the results (new)")[1]
    assert all(r["run_id"] in new_part for r in added) and "{synth_text_anchor}" in new_part
    code, report = compare_json(run_main, ref, new)
    assert report["summary"]["missing_runs"] == 1 and report["summary"]["new_runs"] == 3
    (scratch,) = rows_by(report, variant="scratch")  # compared on the seeds both have
    assert scratch["reference_n"] == 3 and scratch["new_n"] == 2
    assert compare(run_main, ref, new, "--fail_on_missing").returncode == 1


def test_runs_are_matched_by_spec_content_not_by_id_or_file_name(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    renamed = [{**r, "run_id": f"renamed-{i}"} for i, r in enumerate(baseline())]
    for r in renamed[
        :3
    ]:  # a spec written before max_test_samples existed matches one with it unset
        r["spec"] = {**r["spec"], "max_test_samples": None}
    new = write(tmp_path / "new", renamed)
    code, report = compare_json(run_main, ref, new)
    assert code == 0 and report["summary"]["runs_matched"] == 9
    assert report["summary"]["missing_runs"] == 0 and report["summary"]["new_runs"] == 0
    assert spec_of(make_spec(seed=0)).group_key == spec_of(make_spec(seed=1)).group_key
    assert spec_of(make_spec(seed=0)).key() != spec_of(make_spec(seed=1)).key()


def test_a_run_that_now_fails_is_a_regression(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    new_records = baseline()
    broken = next(
        r for r in new_records if r["spec"]["variant"] == "scratch" and r["spec"]["seed"] == 1
    )
    broken.update(status="failed", error="training diverged (NaN loss at step 3)")
    del broken["primary_score"]
    new = write(tmp_path / "new", new_records)
    proc = compare(run_main, ref, new)
    assert proc.returncode == 1, show(proc)
    assert f"run {broken['run_id']} FAILED" in proc.stdout and "NaN loss" in proc.stdout


def test_json_output_and_output_file(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    new = write(
        tmp_path / "new", replace(baseline(), [0.70, 0.71, 0.72], variant="finetune", sources=[])
    )
    out = tmp_path / "reports" / "compare.json"
    proc = compare(run_main, ref, new, "--format", "json", "--output", out)
    assert proc.returncode == 1
    assert out.read_text() == proc.stdout
    report = json.loads(proc.stdout)
    assert set(report) >= {
        "reference",
        "results",
        "rule",
        "summary",
        "rows",
        "missing",
        "new",
        "failed",
    }
    (row,) = [r for r in report["rows"] if r["status"] == "REGRESSION"]
    assert row["reference_mean"] == pytest.approx(0.81) and row["new_mean"] == pytest.approx(0.71)
    assert row["seeds_reference"] == [0, 1, 2] and len(row["run_ids"]) == 3
    md = tmp_path / "compare.md"
    assert compare(run_main, ref, new, "--output", md).returncode == 1
    assert md.read_text().startswith("## transferbench compare: FAIL")


@pytest.mark.parametrize("case", ["absent", "empty", "corrupt", "not-a-record", "a-file"])
def test_unusable_input_exits_2_naming_what_and_where(tmp_path, run_main, case):
    good = write(tmp_path / "good", baseline())
    bad = tmp_path / "bad"
    if case == "empty":
        bad.mkdir()
    elif case in ("corrupt", "not-a-record"):
        write(bad, baseline())
        text = '{"schema_version": 1, "run_id": ' if case == "corrupt" else '{"hello": 1}'
        (bad / RUNS_DIR / "broken.json").write_text(text)
    elif case == "a-file":
        bad.write_text("not a folder")
    for args in (("--reference", bad, "--results", good), ("--reference", good, "--results", bad)):
        proc = run_main("compare", *args)
        assert proc.returncode == 2, show(proc)
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr + proc.stdout
        flag = "--reference" if args[1] == bad else "--results"
        assert flag in proc.stderr and str(bad) in proc.stderr, show(proc)
        if case in ("corrupt", "not-a-record"):
            assert "broken.json" in proc.stderr


def test_no_run_in_common_exits_2_saying_what_differs(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    longer = {**BUDGET, "num_train_epochs": 10.0}
    new = write(
        tmp_path / "new",
        [rec(r["primary_score"], **{**_kw(r), "budget": longer}) for r in baseline()],
    )
    proc = compare(run_main, ref, new)
    assert proc.returncode == 2, show(proc)
    assert "nothing to compare" in proc.stderr and "budget.num_train_epochs" in proc.stderr


def _kw(record: dict) -> dict:
    s = record["spec"]
    return {
        "variant": s["variant"],
        "sources": s["sources"],
        "seed": s["seed"],
        "target": s["target"],
    }


def test_bad_levels_are_user_errors(tmp_path, run_main):
    ref = write(tmp_path / "ref", baseline())
    for flag, value in (("--alpha", "0"), ("--alpha", "0.7"), ("--min_tolerance", "-1")):
        proc = compare(run_main, ref, ref, flag, value)
        assert proc.returncode == 2 and flag in proc.stderr, show(proc)


def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "compare", "--reference", tmp_path / "nope"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2, show(proc)
    assert "Traceback" not in proc.stderr and "no such results folder" in proc.stderr


# --- the nightly suite and its committed reference ------------------------------------------


def nightly_specs():
    from harness.suites import expand, load_suite, resolve_suite
    from harness.taskregistry import TaskRegistry

    data, where = load_suite("nightly")
    return expand(resolve_suite(data, {}, where), TaskRegistry(), where)


def test_the_nightly_suite_runs_every_method_offline_with_several_seeds():
    from harness.methods import discover_methods
    from harness.taskregistry import TaskRegistry

    specs = nightly_specs()
    assert {s.method for s in specs} == set(discover_methods().names())
    assert len({s.seed for s in specs}) >= 3
    registry = TaskRegistry()
    tasks = {s.target for s in specs} | {t for s in specs for t in (*s.sources, *s.task_set)}
    assert all(registry.get(t).data.get("generator") for t in tasks)  # no download
    assert {registry.get(s.target).modality for s in specs} == {"text", "image"}
    assert len(specs) <= 60  # small enough for a 2-core CPU in a few minutes


def test_the_reference_is_tracked_by_git_and_small():
    files = [p for p in REFERENCE.rglob("*") if p.is_file()]
    assert files and sum(p.stat().st_size for p in files) < 400_000
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in (files[0], find_records(REFERENCE)[0]):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", str(path.relative_to(ROOT))],
            cwd=ROOT,
            capture_output=True,
        )
        assert ignored.returncode == 1, f"{path} is ignored by git"


def test_the_reference_is_the_current_nightly_grid():
    """Its records are exactly the suite's runs as this code expands them (same spec ids): when
    this fails, the suite, a task card or the spec changed: refresh the reference."""
    records = [read_record(p) for p in find_records(REFERENCE)]
    assert all(r["status"] == "ok" and r["comparable"] for r in records)
    assert {r["run_id"] for r in records} == {s.id for s in nightly_specs()}


def test_the_reference_compares_clean_against_itself(run_main):
    code, report = compare_json(run_main, REFERENCE, REFERENCE)
    assert code == 0
    s = report["summary"]
    assert s["runs_matched"] == len(find_records(REFERENCE)) and s["regressions"] == 0
    assert s["missing_runs"] == s["new_runs"] == 0
    assert all(r["change"] == 0 for r in report["rows"])


def nightly_part(tmp_path: Path) -> Path:
    """A representative part of the nightly suite, as a suite file: its main text target
    (bert-tiny) with every method but distill (whose teachers cost the most): the scratch
    runs, a source encoder, cached features, the multi-task phase; every seed. Its runs are
    runs of the suite (a `--targets` override would clash with the variants' own `targets`)."""
    from harness.suites import load_suite

    data, _ = load_suite("nightly")
    texts = ["synth_text_near"]
    data["targets"] = texts
    data["methods"] = {k: v for k, v in data["methods"].items() if k != "distill"}
    for settings in data["methods"].values():
        if "targets" in settings:
            settings["targets"] = [t for t in settings["targets"] if t in texts]
    path = tmp_path / "nightly-part.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_rerun_of_part_of_the_nightly_suite_matches_the_reference(tmp_path, run_main):
    out = tmp_path / "nightly"
    start = time.perf_counter()
    proc = run_main(
        "run",
        "--config",
        nightly_part(tmp_path),
        "--output_dir",
        out,
        "--cache_dir",
        tmp_path / "cache",
    )
    assert proc.returncode == 0, show(proc)
    code, report = compare_json(run_main, REFERENCE, out)
    s = report["summary"]
    assert code == 0, json.dumps([r for r in report["rows"] if r["status"] != "ok"], indent=1)
    assert s["new_runs"] == 0 and s["runs_matched"] == len(find_records(out)) == 18
    assert {r["variant"] for r in report["rows"]} == {
        "scratch",
        "feature_extraction",
        "finetune",
        "mtdnn",
    }
    print(f"rerun of {s['runs_matched']} runs + compare: {time.perf_counter() - start:.0f}s")


@pytest.mark.slow
def test_a_full_rerun_of_the_nightly_suite_matches_the_reference(tmp_path, run_main):
    out = tmp_path / "nightly"
    proc = run_main(
        "run", "--suite", "nightly", "--output_dir", out, "--cache_dir", tmp_path / "cache"
    )
    assert proc.returncode == 0, show(proc)
    proc = compare(run_main, REFERENCE, out, "--fail_on_missing")
    assert proc.returncode == 0, show(proc)
    assert "0 run(s) missing from the results, 0 new, 0 failed" in proc.stdout


# --- history ----------------------------------------------------------------------------------


def nights_of(tmp_path: Path, series: dict[str, np.ndarray], name: str = "night") -> list[Path]:
    """One folder per night; `series` maps a variant to per-night, per-seed scores."""
    n_nights = len(next(iter(series.values())))
    folders = []
    for night in range(n_nights):
        created = f"2026-11-{night + 1:02d}T02:00:00+00:00"
        records = [
            rec(float(score), variant=variant, seed=seed, created=created)
            for variant, scores in series.items()
            for seed, score in enumerate(scores[night])
        ]
        folders.append(write(tmp_path / f"{name}-{night:02d}", records))
    return folders


def test_history_flags_a_slow_drift_that_no_single_night_shows(tmp_path, run_main):
    rng = np.random.default_rng(7)
    nights = 10
    # each seed sits where it sits (s.d. 0.01 over seeds), with a little night-to-night jitter
    noise = np.array([-0.01, 0.0, 0.01]) + rng.normal(0, 0.003, size=(3, nights, 3))
    series = {
        "finetune": 0.85 - 0.008 * np.arange(nights)[:, None] + noise[0],  # −0.008 a night
        "scratch": 0.70 + noise[1],
        "mtdnn": 0.80 + noise[2],
    }
    folders = nights_of(tmp_path, series)
    # night to night, the drift hides in the seed noise
    for a, b in zip(folders[:-1], folders[1:]):
        assert compare(run_main, a, b).returncode == 0
    proc = run_main("history", *folders, "--output_dir", tmp_path / "history")
    assert proc.returncode == 0, show(proc)
    assert "### 1 series drifting" in proc.stdout, show(proc)
    table = proc.stdout.split("### 1 series drifting")[1]
    assert "| finetune" in table and "DRIFT" in table and "scratch" not in table
    for name in ("history.png", "history.svg", "history.csv", "drift.csv", "drift.md"):
        assert (tmp_path / "history" / name).stat().st_size > 0
    assert (
        run_main("history", *folders, "--output_dir", tmp_path / "h2", "--fail_on_drift").returncode
        == 1
    )


def test_history_does_not_flag_pure_noise(tmp_path, run_main):
    rng = np.random.default_rng(11)
    series = {
        v: 0.8 + rng.normal(0, 0.02, size=(8, 3))
        for v in ("scratch", "finetune", "feature_extraction", "mtdnn", "distill")
    }
    proc = run_main(
        "history", *nights_of(tmp_path, series), "--output_dir", tmp_path / "h", "--fail_on_drift"
    )
    assert proc.returncode == 0, show(proc)
    assert "No drift flagged in 5 series." in proc.stdout


def test_drift_test_false_alarms_and_power():
    """Over many simulated series: pure noise is flagged rarely (the two tests each at 1 %),
    a drift of half a seed s.d. a night over 8 nights most of the time."""
    rng = np.random.default_rng(3)
    false = sum(
        drift_test(list(0.8 + rng.normal(0, 0.02, (8, 3))), "max")["status"] == "DRIFT"
        for _ in range(400)
    )
    assert false <= 8  # ≤ 2 %
    down = 0.8 - 0.01 * np.arange(8)[:, None]
    hits = sum(
        drift_test(list(down + rng.normal(0, 0.02, (8, 3))), "max")["status"] == "DRIFT"
        for _ in range(200)
    )
    assert hits >= 160  # ≥ 80 % (about 87 % measured)
    rising = 0.02 * np.arange(8)[:, None]  # one seed s.d. a night: no doubt left
    up = drift_test(list(0.8 + rising + rng.normal(0, 0.02, (8, 3))), "max")
    assert up["status"] == "improving"
    mse = drift_test(list(0.5 + rising + rng.normal(0, 0.02, (8, 3))), "min")
    assert mse["status"] == "DRIFT"  # lower is better: a rising mse drifts
    # a tiny but perfectly monotone deterministic change is a trend, not a drift beyond noise
    tiny = drift_test([[0.8 - 1e-5 * i] * 3 for i in range(8)], "max")
    assert tiny["p_trend"] < 0.01 and tiny["status"] == "ok"
    assert drift_test([[0.8]] * 3, "max")["status"] == "too few nights"


def test_history_orders_nights_by_their_records_time_or_as_given(tmp_path, run_main):
    series = {"finetune": 0.9 - 0.02 * np.arange(8)[:, None] + np.array([[-0.005, 0.0, 0.005]])}
    folders = nights_of(tmp_path, series)
    shuffled = [folders[i] for i in (3, 0, 7, 1, 6, 2, 5, 4)]
    by_time = run_main("history", *shuffled, "--output_dir", tmp_path / "a")
    assert by_time.returncode == 0 and "### 1 series drifting" in by_time.stdout, show(by_time)
    listed = [line for line in by_time.stdout.splitlines() if line[:1].isdigit()]
    assert [Path(line.split("`")[1]).name for line in listed] == [f.name for f in folders]
    backwards = run_main(
        "history", *reversed(folders), "--output_dir", tmp_path / "b", "--order", "given"
    )
    assert "### 1 series improving" in backwards.stdout and "drifting" not in backwards.stdout


def test_history_bad_input(tmp_path, run_main):
    folders = nights_of(tmp_path, {"finetune": np.full((5, 3), 0.8)})
    for args, text in (
        ((*folders, tmp_path / "nope"), "no such results folder"),
        ((*folders, folders[0]), "given twice"),
        ((*folders, "--min_nights", "2"), "--min_nights"),
    ):
        proc = run_main("history", *args, "--output_dir", tmp_path / "h")
        assert proc.returncode == 2 and text in proc.stderr and "Traceback" not in proc.stderr, (
            show(proc)
        )
    undated = tmp_path / "undated"
    write(undated, [{k: v for k, v in r.items() if k != "created"} for r in seeds([0.8, 0.8, 0.8])])
    proc = run_main("history", *folders, undated, "--output_dir", tmp_path / "h")
    assert proc.returncode == 2 and "--order given" in proc.stderr, show(proc)
    assert (
        run_main(
            "history", *folders, undated, "--order", "given", "--output_dir", tmp_path / "h"
        ).returncode
        == 0
    )


# --- the CI workflow --------------------------------------------------------------------------


def test_the_scheduled_workflow_runs_the_suite_compares_and_uploads():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"]
    (job,) = wf["jobs"].values()
    steps = job["steps"]
    script = "\n".join(s.get("run", "") for s in steps)
    assert 'pip install torch==2.13.0 && pip install -e ".[test]"' in script
    assert "transferbench run --suite nightly --output_dir results/nightly" in script
    assert (
        "transferbench compare --reference results/reference/nightly --results results/nightly"
        in script
    )
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert "always()" in upload.get("if", "") and "results/nightly" in upload["with"]["path"]
