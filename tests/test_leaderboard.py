"""Every figure the leaderboard reports, on hand-made records (no training): seed statistics
and intervals, gains and their signs, what is pooled and what is not, the GLUE average, gain
matrices and the negative-transfer flag. Expected values are computed by hand in comments."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from harness.analysis.gains import (
    aggregate,
    delta_m,
    distillation,
    gain_matrices,
    glue_average,
    records_frame,
)
from harness.analysis.intervals import mean_interval
from harness.analysis.leaderboard import build, leaderboard_table
from harness.records import write_record

BUDGET = {"num_train_epochs": 3.0, "learning_rate": 5e-4}


def rec(
    score,
    *,
    variant="finetune",
    method=None,
    sources=(),
    target="synth_text_near",
    seed=0,
    fraction=0.1,
    limit=None,
    budget=None,
    metric="accuracy",
    direction="max",
    method_config=None,
    versions=None,
    backbone="bert-tiny",
    task_set=(),
    tags=None,
):
    method = method or variant
    spec = {
        "backbone": {"name": backbone},
        "sources": list(sources),
        "method": method,
        "variant": variant,
        "method_config": method_config or {},
        "target": target,
        "fraction": fraction,
        "seed": seed,
        "budget": budget or BUDGET,
        "source_budget": BUDGET,
        "source_seed": 0,
        "limit": limit,
        "task_versions": versions or {target: "v1", **{s: "v1" for s in sources}},
        "task_set": list(task_set),
    }
    run_id = f"{variant}-{'+'.join(sources) or 'none'}-{target}-{fraction}-{seed}-{limit}-{abs(hash(str(spec))) % 10**8}"
    return {
        "schema_version": 1,
        "run_id": run_id,
        "status": "ok",
        "spec": spec,
        "primary_metric": metric,
        "primary_score": score,
        "direction": direction,
        "comparable": limit is None,
        "target_tags": tags
        if tags is not None
        else (["glue"] if target in ("rte", "mrpc") else []),
    }


def runs(scores, **kw):
    return [rec(s, seed=i, **kw) for i, s in enumerate(scores)]


def agg_of(records):
    return aggregate(records_frame(records))


def row(agg, **where):
    sel = agg
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, (where, sel)
    return sel.iloc[0]


def test_mean_std_seed_count_and_t_interval():
    agg = agg_of(runs([0.6, 0.7, 0.8]))
    r = row(agg)
    assert r["mean"] == pytest.approx(0.7) and r["std"] == pytest.approx(0.1) and r["n"] == 3
    # t(0.975, 2) = 4.302653; half width 4.302653 * 0.1 / sqrt(3) = 0.248414
    assert r["ci_kind"] == "t"
    assert r["ci_low"] == pytest.approx(0.7 - 0.248414, abs=1e-6)
    assert r["ci_high"] == pytest.approx(0.7 + 0.248414, abs=1e-6)
    assert r["seeds"] == [0, 1, 2]


def test_interval_kinds():
    assert mean_interval([0.5]).kind == "none" and math.isnan(mean_interval([0.5]).low)
    two = mean_interval(
        [0.4, 0.6]
    )  # t(0.975, 1) = 12.7062; s = 0.141421; half = 12.7062 * 0.1 = 1.27062
    assert two.kind == "t" and two.high - 0.5 == pytest.approx(1.270620, abs=1e-5)
    many = [0.70, 0.72, 0.71, 0.69, 0.75, 0.73, 0.68, 0.74, 0.70, 0.72, 0.71, 0.73]
    bs = mean_interval(many)
    assert bs.kind == "bootstrap" and bs.n == 12
    mean = sum(many) / len(many)
    assert min(many) < bs.low < mean < bs.high < max(many)
    t = mean_interval(many[:9])  # below the bootstrap threshold: t
    assert t.kind == "t"
    # the bootstrap interval of the mean is about as wide as the t one (normal-ish data)
    import numpy as np

    half_t = 2.200985 * np.std(many, ddof=1) / math.sqrt(12)  # t(0.975, 11)
    assert (bs.high - bs.low) / 2 == pytest.approx(half_t, rel=0.35)
    assert mean_interval(many) == bs  # seeded: the same interval every time


def test_gain_over_scratch_and_over_no_source():
    records = (
        runs([0.5, 0.6], variant="scratch")
        + runs([0.7, 0.8], variant="finetune")
        + runs([0.9, 0.9], variant="finetune", sources=["synth_text_anchor"])
    )
    agg = agg_of(records)
    src = row(agg, sources="synth_text_anchor")
    assert src["gain_vs_scratch"] == pytest.approx(0.9 - 0.55)
    assert src["gain_vs_base"] == pytest.approx(0.9 - 0.75)
    assert not src["negative_transfer"]
    none = row(agg, variant="finetune", sources="none")
    assert none["gain_vs_scratch"] == pytest.approx(0.75 - 0.55) and pd.isna(none["gain_vs_base"])
    assert row(agg, variant="scratch")["gain_vs_scratch"] == pytest.approx(0.0)


def test_gain_sign_flips_for_lower_is_better_metrics():
    kw = {"metric": "mse", "direction": "min", "target": "synth_text_regression"}
    records = (
        runs([1.0, 1.2], variant="scratch", **kw)
        + runs([0.9, 0.9], variant="finetune", **kw)
        + runs([0.5, 0.7], variant="finetune", sources=["synth_text_anchor"], **kw)
    )
    src = row(agg_of(records), sources="synth_text_anchor")
    # mse 0.6 against scratch's 1.1 and no-source's 0.9: lower is better, so both gains are positive
    assert src["gain_vs_scratch"] == pytest.approx(0.5)
    assert src["gain_vs_base"] == pytest.approx(0.3)
    assert not src["negative_transfer"]
    worse = runs([1.5, 1.5], variant="finetune", sources=["synth_text_far"], **kw)
    far = row(agg_of(records + worse), sources="synth_text_far")
    assert far["gain_vs_base"] == pytest.approx(-0.6) and far["negative_transfer"]


def test_negative_transfer_flag_and_seed_noise_note():
    base = runs([0.70, 0.72], variant="finetune")  # mean 0.71, s = 0.014142
    clear = runs([0.60, 0.62], variant="finetune", sources=["synth_text_far"])  # gain -0.10
    noisy = runs([0.69, 0.71], variant="finetune", sources=["synth_text_mid"])  # gain -0.01
    agg = agg_of(base + clear + noisy)
    # SE of the difference: sqrt(s1^2/2 + s0^2/2) = sqrt(0.0001 + 0.0001) = 0.014142; 2 SE = 0.028284
    far, mid = row(agg, sources="synth_text_far"), row(agg, sources="synth_text_mid")
    assert far["gain_se"] == pytest.approx(0.0141421, abs=1e-6)
    assert far["negative_transfer"] and not far["within_noise"]  # 0.10 > 2 SE
    assert mid["negative_transfer"] and mid["within_noise"]  # 0.01 <= 2 SE
    table = leaderboard_table(agg).set_index("source")
    assert table.loc["synth_text_far", "note"] == "negative transfer"
    assert table.loc["synth_text_mid", "note"] == "negative transfer (within seed noise)"
    assert table.loc["none", "note"] == ""


def test_limited_and_full_runs_are_not_pooled():
    """Two seeds with --limit 64 and two without: two rows of two seeds, not one of four."""
    records = (
        runs([0.9, 0.8], variant="finetune", limit=64)
        + runs([0.6, 0.7], variant="finetune")
        + runs([0.5, 0.5], variant="scratch")
    )
    agg = agg_of(records)
    ft = agg[agg["variant"] == "finetune"]
    assert len(ft) == 2 and sorted(ft["n"]) == [2, 2]
    assert sorted(ft["mean"].round(6)) == [0.65, 0.85]
    limited = row(agg, variant="finetune", limit=64)
    # no scratch run was made with --limit 64: no gain between a limited and a full run
    assert pd.isna(limited["gain_vs_scratch"]) and not limited["comparable"]
    assert row(agg, variant="finetune", comparable=True)["gain_vs_scratch"] == pytest.approx(0.15)
    table = leaderboard_table(agg)
    assert "limit" in table and sorted(table["limit"]) == ["", "", "64"]


@pytest.mark.parametrize(
    "change",
    [
        {"budget": {**BUDGET, "num_train_epochs": 10.0}},
        {"budget": {**BUDGET, "learning_rate": 1e-3}},
        {"method_config": {"freeze_first_n": 2}},
        {"versions": {"synth_text_near": "v2"}},
        {"fraction": 0.1, "backbone": "bert-mini"},
    ],
    ids=["budget", "learning-rate", "method-settings", "task-version", "backbone"],
)
def test_runs_that_differ_in_what_changes_the_number_are_not_pooled(change):
    records = runs([0.6, 0.7]) + runs([0.9, 0.8], **change)
    agg = agg_of(records)
    assert len(agg) == 2 and list(agg["n"]) == [2, 2]
    table = leaderboard_table(agg)
    if "backbone" not in change:  # rows that look the same get the setting that tells them apart
        assert "setting" in table and table["setting"].nunique() == 2


def test_gain_is_computed_only_against_the_same_budget():
    records = runs([0.5, 0.5], variant="scratch") + runs(
        [0.8, 0.8], variant="finetune", budget={**BUDGET, "num_train_epochs": 10.0}
    )
    assert pd.isna(row(agg_of(records), variant="finetune")["gain_vs_scratch"])


def test_no_source_runs_pool_whatever_their_source_budget():
    a = runs([0.6, 0.7])
    b = [
        dict(
            r,
            spec={
                **r["spec"],
                "source_budget": {"num_train_epochs": 9.0},
                "seed": r["spec"]["seed"] + 2,
            },
            run_id=r["run_id"] + "b",
        )
        for r in runs([0.8, 0.9])
    ]
    assert list(agg_of(a + b)["n"]) == [
        4
    ]  # the source budget does not change a run without a source


def test_glue_average():
    records = (
        runs([0.6, 0.6], target="rte")
        + runs([0.8, 0.9], target="mrpc")
        + runs([0.1, 0.1], target="synth_text_near")
    )
    glue = glue_average(agg_of(records))
    (r,) = glue.itertuples()
    assert r.glue_average == pytest.approx((0.6 + 0.85) / 2) and r.tasks == 2
    limited = glue_average(agg_of(records + runs([0.2, 0.2], target="rte", limit=8)))
    assert len(limited) == 2  # limited runs get their own GLUE average


def test_gain_matrices():
    records = runs([0.5, 0.5], target="synth_text_near") + runs([0.4, 0.4], target="synth_text_far")
    for src, tgt, s in [
        ("synth_text_anchor", "synth_text_near", 0.9),
        ("synth_text_anchor", "synth_text_far", 0.3),
        ("synth_text_mid", "synth_text_near", 0.6),
        ("synth_text_mid", "synth_text_far", 0.45),
    ]:
        records += runs([s, s], sources=[src], target=tgt)
    mats = gain_matrices(agg_of(records))
    (m,) = mats.values()
    assert list(mats) == ["bert-tiny__finetune__f0.1"]
    assert m.loc["synth_text_anchor", "synth_text_near"] == pytest.approx(0.4)
    assert m.loc["synth_text_anchor", "synth_text_far"] == pytest.approx(-0.1)
    assert m.loc["synth_text_mid", "synth_text_near"] == pytest.approx(0.1)
    assert m.loc["synth_text_mid", "synth_text_far"] == pytest.approx(0.05)
    limited = gain_matrices(
        agg_of(
            records
            + runs([0.5], target="synth_text_near", limit=8)
            + runs([0.7], sources=["synth_text_anchor"], target="synth_text_near", limit=8)
        )
    )
    assert set(limited) == {"bert-tiny__finetune__f0.1", "bert-tiny__finetune__f0.1__limit8"}
    assert limited["bert-tiny__finetune__f0.1__limit8"].loc[
        "synth_text_anchor", "synth_text_near"
    ] == pytest.approx(0.2)


def test_build_writes_separate_rows_and_states_seeds_and_interval(tmp_path):
    for r in runs([0.9, 0.8], limit=64) + runs([0.6, 0.7, 0.8]):
        write_record(r, tmp_path)
    board = build(tmp_path, tmp_path)
    lines = [ln for ln in board["text"].splitlines() if "synth_text_near" in ln]
    assert len(lines) == 2
    full = next(ln for ln in lines if "0.7000 ± 0.1000" in ln)
    assert "[0.4516, 0.9484]" in full and re.search(r"\|\s+3\s+\|", full)  # t interval, 3 seeds
    assert "not comparable" in next(ln for ln in lines if ln is not full)
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert list(csv["seeds"]) == [2, 3] or list(csv["seeds"]) == [3, 2]
    assert "95% CI" in csv.columns


def test_glue_average_follows_the_card_tag():
    records = runs([0.6], target="rte") + runs([0.2], target="my_glue_like_task", tags=["glue"])
    records += runs([0.9], target="mrpc", tags=[])  # a card without the tag is not averaged
    (r,) = glue_average(agg_of(records)).itertuples()
    assert r.glue_average == pytest.approx(0.4) and r.tasks == 2


def test_delta_m_against_single_task_finetuning():
    """Two targets, two seeds. Seed 0: accuracy 0.8 vs 0.5 (+60 %) and mse 0.5 vs 1.0 (+50 %,
    lower is better): 55 %. Seed 1: 0.6 vs 0.6 (0 %) and 1.5 vs 1.0 (−50 %): −25 %.
    Δm = mean 15 %, std over seeds sqrt(((55−15)² + (−25−15)²)/1) = 56.5685 %."""
    ts = ("synth_text_anchor", "synth_text_near", "synth_text_regression")
    mse = {"target": "synth_text_regression", "metric": "mse", "direction": "min"}
    records = (
        runs([0.5, 0.6], variant="finetune")
        + runs([1.0, 1.0], variant="finetune", **mse)
        + runs([0.8, 0.6], variant="mtdnn", task_set=ts)
        + runs([0.5, 1.5], variant="mtdnn", task_set=ts, **mse)
        + runs([0.1, 0.1], variant="scratch")
    )
    (r,) = delta_m(records_frame(records)).itertuples()
    assert r.variant == "mtdnn" and r.tasks == 2 and r.seeds == 2
    assert r.delta_m == pytest.approx(15.0) and r.std == pytest.approx(56.5685, abs=1e-4)


def _glue_like_delta_m_records():
    """Three targets, two seeds; CoLA's single-task MCC is −0.008 on both seeds."""
    ts = ("cola", "rte", "mrpc")
    cola = {"target": "cola", "metric": "mcc"}
    mrpc = {"target": "mrpc", "metric": "f1"}
    single = runs([-0.008, -0.008], variant="finetune", **cola)
    single += runs([0.5, 0.5], variant="finetune", target="rte")
    single += runs([0.9, 0.9], variant="finetune", **mrpc)
    multi = runs([0.0, 0.008], variant="mtdnn", task_set=ts, **cola)
    multi += runs([0.6, 0.55], variant="mtdnn", task_set=ts, target="rte")
    multi += runs([0.81, 0.855], variant="mtdnn", task_set=ts, **mrpc)
    return single + multi


def test_delta_m_leaves_a_near_zero_reference_out_of_the_relative_mean():
    """Seed 0: RTE 0.60 vs 0.50 (+20 %), MRPC 0.81 vs 0.90 (−10 %): 5 %. Seed 1: RTE 0.55 vs
    0.50 (+10 %), MRPC 0.855 vs 0.90 (−5 %): 2.5 %. Δm = 3.75 %, std over seeds
    sqrt((1.25² + 1.25²)/1) = 1.76777 %. CoLA (|M_st| = 0.008 < 0.05) is left out and shown as
    its absolute difference: mean(0.000 − (−0.008), 0.008 − (−0.008)) = +0.012.
    Relative, CoLA would count +100 % (seed 0) and +200 % (seed 1): Δm 52.5 %."""
    (r,) = delta_m(records_frame(_glue_like_delta_m_records())).itertuples()
    assert r.variant == "mtdnn" and r.seeds == 2 and r.tasks == 3 and r.tasks_in_mean == 2
    assert r.delta_m == pytest.approx(3.75) and r.std == pytest.approx(1.76777, abs=1e-4)
    assert r.left_out == "cola: +0.012 abs (single-task -0.008, |M_st| < 0.05 on every seed)"
    # the threshold is a parameter: below 0.008, CoLA counts, with its inflated relative gain
    # seed 0: mean(100, 20, −10) = 36.667 %; seed 1: mean(200, 10, −5) = 68.333 %
    (r,) = delta_m(records_frame(_glue_like_delta_m_records()), min_reference=0.005).itertuples()
    assert r.tasks_in_mean == 3 and r.left_out == "" and r.delta_m == pytest.approx(52.5)


def test_a_task_left_out_for_one_near_zero_seed_names_that_seed():
    """CoLA single-task 0.020 and 0.132 (mean 0.076, above 0.05): seed 0 alone puts it out of
    the relative mean, and the note says so rather than "single-task +0.076, |M_st| < 0.05"."""
    ts = ("cola", "rte")
    cola = {"target": "cola", "metric": "mcc"}
    records = runs([0.020, 0.132], variant="finetune", **cola)
    records += runs([0.5, 0.5], variant="finetune", target="rte")
    records += runs([0.030, 0.142], variant="mtdnn", task_set=ts, **cola)
    records += runs([0.6, 0.55], variant="mtdnn", task_set=ts, target="rte")
    (r,) = delta_m(records_frame(records)).itertuples()
    assert r.tasks_in_mean == 1 and r.delta_m == pytest.approx(15.0)
    assert r.left_out == "cola: +0.010 abs (single-task +0.076, |M_st| < 0.05 on seed 0: +0.020)"


def test_the_left_out_task_is_shown_in_the_leaderboard_and_the_report(tmp_path):
    from harness.analysis.report import write_report

    results = tmp_path / "results"
    for r in _glue_like_delta_m_records():
        write_record(r, results)
    board = build(results, tmp_path / "out")
    text = board["text"]
    assert "left out of the relative mean" in text and "below 0.05" in text
    assert "tasks_in_mean" in text and "cola: +0.012 abs" in text
    csv = pd.read_csv(tmp_path / "out" / "delta_m.csv")
    assert {"tasks", "tasks_in_mean", "left_out"} <= set(csv.columns)
    assert csv["left_out"].iloc[0].startswith("cola: +0.012 abs")
    assert csv["delta_m"].iloc[0] == pytest.approx(3.75)
    assert "cola: +0.012 abs" in build(results, None, "csv")["text"]
    page = write_report(results).read_text()
    assert "left out of the relative mean" in page and "<th>left_out</th>" in page
    assert "cola: +0.012 abs" in page


def test_multi_task_runs_with_different_task_sets_are_not_pooled():
    a = runs([0.8, 0.8], variant="mtdnn", task_set=("synth_text_anchor",))
    b = runs([0.6, 0.6], variant="mtdnn", task_set=("synth_text_anchor", "synth_text_mid"))
    assert sorted(agg_of(a + b)["mean"].round(6)) == [0.6, 0.8]


def test_distillation_table():
    r = rec(0.85, variant="distill", target="synth_text_anchor", task_set=("synth_text_anchor",))
    r["extra"] = {
        "teachers": {
            "synth_text_anchor": {
                "teacher_scores": [0.80, 0.82],
                "teacher_mean": 0.81,
                "ensemble": 0.85,
                "metric": "accuracy",
            }
        },
        "multitask": {"tasks": {"synth_text_anchor": {"primary": 0.84}}},
    }
    (row_,) = distillation([r]).itertuples()
    # the student keeps (0.84 − 0.81) / (0.85 − 0.81) = 75 % of the ensemble's gain
    assert row_.teachers == 2 and row_.ensemble == 0.85 and row_.student == 0.84
    assert row_.kept == pytest.approx(0.75) and row_.student_finetuned == 0.85


def test_distillation_table_keeps_fractions_apart_and_averages_seeds():
    """Teachers and student are trained per (fraction, seed) when the task is a target in the
    set; the table pooled them all under the first record's values."""
    records = []
    for fraction, seed, (t_mean, ens, student) in [
        (0.25, 0, (0.50, 0.60, 0.58)),
        (0.25, 1, (0.52, 0.62, 0.56)),
        (1.0, 0, (0.70, 0.72, 0.74)),
    ]:
        r = rec(
            0.6,
            variant="distill",
            target="synth_text_anchor",
            task_set=("synth_text_anchor",),
            seed=seed,
            fraction=fraction,
        )
        r["extra"] = {
            "teachers": {
                "synth_text_anchor": {
                    "teacher_scores": [t_mean, t_mean],
                    "teacher_mean": t_mean,
                    "ensemble": ens,
                    "metric": "accuracy",
                }
            },
            "multitask": {"tasks": {"synth_text_anchor": {"primary": student}}},
        }
        records.append(r)
    table = distillation(records).set_index("fraction")
    assert list(table.index) == [0.25, 1.0] and list(table["seeds"]) == [2, 1]
    quarter = table.loc[0.25]
    assert quarter["teacher_mean"] == pytest.approx(0.51) and quarter["ensemble"] == pytest.approx(
        0.61
    )
    assert quarter["kept"] == pytest.approx((0.57 - 0.51) / (0.61 - 0.51))
    assert table.loc[1.0, "kept"] == pytest.approx(2.0) and table.loc[1.0, "note"] == ""
    # an ensemble no better than its teachers has no gain to keep: no ratio of two near-zeros
    records[2]["extra"]["teachers"]["synth_text_anchor"]["ensemble"] = 0.705
    row = distillation(records).set_index("fraction").loc[1.0]
    assert np.isnan(row["kept"]) and "no gain to keep" in row["note"]


def test_a_method_with_its_own_learning_rate_is_compared_at_the_same_compute():
    """Gains compare runs with the same epochs, steps and batch; a variant's learning rate is
    part of its recipe (feature_extraction's 1e-2), so it still gets a gain over scratch."""
    records = runs([0.5, 0.5], variant="scratch") + runs(
        [0.7, 0.7], variant="feature_extraction", budget={**BUDGET, "learning_rate": 1e-2}
    )
    assert row(agg_of(records), variant="feature_extraction")["gain_vs_scratch"] == pytest.approx(
        0.2
    )


def test_a_majority_row_gives_each_targets_floor_once_per_limit():
    floor = {"predict": "positive", "metrics": {"accuracy": 0.55}, "primary": 0.55}
    small = {"predict": "negative", "metrics": {"accuracy": 0.5}, "primary": 0.5}
    records = [
        *[{**r, "floor": floor} for r in runs([0.7, 0.72])],
        *[{**r, "floor": floor} for r in runs([0.6, 0.62], variant="scratch")],
        *[{**r, "floor": small} for r in runs([0.66, 0.68], limit=32)],
        *[{**r, "floor": {**floor, "primary": 0.4}} for r in runs([0.8], target="synth_text_far")],
        *runs([0.9], target="synth_text_mid"),  # a record from before floors were recorded: no row
    ]
    table = leaderboard_table(agg_of(records))
    floors = table[table["method"] == "majority"]
    assert sorted(zip(floors["target"], floors["limit"], floors["score"], floors["note"])) == [
        ("synth_text_far", "", "0.4000", "best constant predictor: positive"),
        ("synth_text_near", "", "0.5500", "best constant predictor: positive"),
        ("synth_text_near", "32", "0.5000", "best constant predictor: negative"),
    ]
    near = table[table["target"] == "synth_text_near"]["method"].tolist()
    assert near[0] == "majority"  # above the target's rows


def test_a_backbone_given_as_a_path_names_its_gain_matrix_file(tmp_path):
    """`models/all-MiniLM-L6-v2` is a backbone name with a slash: the file is still written."""
    bb = "models/all-MiniLM-L6-v2"
    for r in runs([0.5, 0.6], backbone=bb) + runs(
        [0.7, 0.8], sources=["synth_text_anchor"], backbone=bb
    ):
        write_record(r, tmp_path / "results")
    board = build(tmp_path / "results", tmp_path / "out")
    (name,) = board["matrices"]
    written = tmp_path / "out" / f"gain_matrix__{name}.csv".replace("/", "_")
    assert written.exists() and pd.read_csv(written, index_col=0).loc["synth_text_anchor"].iloc[
        0
    ] == pytest.approx(0.2)


def test_pictures_of_two_fractions_get_two_files(tmp_path):
    """The gain matrices of fractions 0.05 and 0.5 were both written to `...__f0.png` (the name
    cut at the dot), so the f0.05 picture showed the f0.5 numbers."""
    import pandas as pd

    from harness.analysis.plots import draw_hinton

    a = pd.DataFrame([[0.1, -0.2]], index=["s"], columns=["t1", "t2"])
    first = draw_hinton(a, tmp_path / "gain_bb__finetune__f0.05", title="f0.05")
    second = draw_hinton(-a, tmp_path / "gain_bb__finetune__f0.5", title="f0.5")
    assert [p.name for p in first] == [
        "gain_bb__finetune__f0.05.png",
        "gain_bb__finetune__f0.05.svg",
    ]
    assert [p.name for p in second] == [
        "gain_bb__finetune__f0.5.png",
        "gain_bb__finetune__f0.5.svg",
    ]
    assert first[0].read_bytes() != second[0].read_bytes()
    assert draw_hinton(a, tmp_path / "named.png")[0].name == "named.png"


def test_paired_differences_against_finetune_by_hand():
    """mtdnn − finetune on the same target, fraction and seed: (+0.10, +0.04, +0.07) → mean
    +0.07, t interval 0.07 ± t(0.975, 2)·sd/√3 with sd 0.03: ±0.07452."""
    import pandas as pd
    from scipy import stats

    from harness.analysis.gains import paired_differences

    rows = []
    for seed, (ft, mt) in enumerate([(0.50, 0.60), (0.56, 0.60), (0.53, 0.60)]):
        for method, score, task_set in (("finetune", ft, ""), ("mtdnn", mt, "a+b")):
            rows.append(
                {
                    "backbone": "bb",
                    "variant": method,
                    "method": method,
                    "sources": "none" if not task_set else "{a,b}",
                    "target": "rte",
                    "fraction": 1.0,
                    "seed": seed,
                    "limit": None,
                    "score": score,
                    "metric": "accuracy",
                    "direction": "max",
                    "task_set": task_set,
                    "setting": method,
                }
            )
        rows.append({**rows[-1], "target": "cb", "seed": seed})  # no finetune on cb: not paired
    out = paired_differences(pd.DataFrame(rows))
    assert len(out) == 1
    (row,) = out.to_dict("records")
    half = stats.t.ppf(0.975, 2) * 0.03 / 3**0.5
    assert row["method"] == "mtdnn" and row["seeds"] == 3 and row["target"] == "rte"
    assert row["Δ vs finetune"] == pytest.approx(0.07)
    assert (row["ci_low"], row["ci_high"]) == (
        pytest.approx(0.07 - half),
        pytest.approx(0.07 + half),
    )
