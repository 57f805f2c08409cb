"""Score by depth (#20) on hand-made records: the table's means and intervals by hand, the best
layer (also for a lower-is-better metric), the earlier-layer competitor of the when-to-transfer
table picked on validation, the files `write_depth` writes, and one tiny suite end to end."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from suitekit import BUDGET, FE, run, suite

from harness.analysis.depth import (
    best_layers,
    depth_table,
    earlier_layer_records,
    family_of,
    figure_names,
    write_depth,
)
from harness.analysis.plots import read_data
from harness.analysis.when_to_transfer import when_to_transfer
from harness.errors import ConfigError

T975_2 = 4.302652729911275  # t(0.975, 2)


def rec(
    layer,
    source,
    seed,
    score,
    *,
    groups=3,
    variant=None,
    target="t",
    fraction=1.0,
    validation=None,
    metric="accuracy",
    direction="max",
    backbone="models/bert-tiny",
    **kw,
):
    variant = variant or f"probe@{layer}"
    spec = {
        "backbone": {"name": backbone},
        "sources": [source] if source else [],
        "method": "feature_extraction",
        "variant": variant,
        "method_config": {"layer": layer, "layers": "all"},
        "target": target,
        "fraction": fraction,
        "seed": seed,
        "budget": {},
        "source_budget": {},
        "source_seed": 0,
        "limit": None,
        "task_versions": {},
    }
    return {
        "run_id": f"{backbone}-{variant}-{source}-{target}-{fraction}-{seed}",
        "status": "ok",
        "comparable": True,
        "spec": spec,
        "primary_score": score,
        "primary_metric": metric,
        "direction": direction,
        "validation_metrics": {metric: score if validation is None else validation},
        "extra": {"layer": layer, "layer_groups": groups, "feature_dim": 8},
        **kw,
    }


def three_layers(source="a", **kw):
    """Layer 1: 0.5, 0.6, 0.7; layer 2: 0.8, 0.8, 0.9; layer 3: 0.6, 0.7, 0.8 (seeds 0, 1, 2)."""
    scores = {1: [0.5, 0.6, 0.7], 2: [0.8, 0.8, 0.9], 3: [0.6, 0.7, 0.8]}
    return [
        rec(layer, source, seed, s, **kw)
        for layer, values in scores.items()
        for seed, s in enumerate(values)
    ]


def test_the_table_has_the_mean_and_t_interval_of_each_layer_by_hand():
    records = three_layers("a") + three_layers(None)
    records.append({**rec(1, "a", 9, 0.0), "comparable": False})  # under --limit: left out
    records.append({**rec(1, "a", 8, 0.0), "status": "failed"})
    records.append({**rec(1, "a", 7, 0.0), "extra": {"feature_dim": 8}})  # reads no layer: left out
    table = depth_table(records)
    assert len(table) == 6
    assert sorted(table["source"].unique()) == ["a", "none"]
    row = table[(table["source"] == "a") & (table["layer"] == 1)].iloc[0]
    half = T975_2 * 0.1 / math.sqrt(3)  # sd of 0.5, 0.6, 0.7 is 0.1
    assert row["mean"] == pytest.approx(0.6)
    assert row["ci_low"] == pytest.approx(0.6 - half)
    assert row["ci_high"] == pytest.approx(0.6 + half)
    assert row["n"] == 3 and row["seeds"] == [0, 1, 2] and row["layer_groups"] == 3
    assert row["family"] == "probe" and row["ci_kind"] == "t" and not row["ci_clipped"]
    assert row["backbone"] == "models/bert-tiny" and row["target"] == "t"
    two = table[(table["source"] == "a") & (table["layer"] == 2)].iloc[0]
    # 0.8, 0.8, 0.9: mean 0.8333, sd 0.0577; the t interval reaches 0.977 (inside [0, 1])
    sd = pd.Series([0.8, 0.8, 0.9]).std()
    assert two["mean"] == pytest.approx(0.8 + 0.1 / 3)
    assert two["ci_high"] == pytest.approx(0.8 + 0.1 / 3 + T975_2 * sd / math.sqrt(3))


def test_an_interval_past_the_metrics_range_is_cut_and_the_uncut_bounds_kept():
    records = [rec(1, "a", s, v) for s, v in enumerate([0.9, 1.0])]
    row = depth_table(records).iloc[0]
    # 2 seeds: 0.95 ± 12.706 * 0.0707 / 1.414 = 0.95 ± 0.635, cut at 1
    assert row["ci_high"] == 1.0 and row["ci_clipped"] and row["few_seeds"]
    assert row["ci_high_unclipped"] == pytest.approx(0.95 + 12.7062047 * 0.05)


def test_the_best_layer_and_its_margin_over_the_last():
    best = best_layers(depth_table(three_layers("a"))).iloc[0]
    assert best["best_layer"] == 2 and best["best"] == "layer 2"
    assert best["best_mean"] == pytest.approx(0.8 + 0.1 / 3)
    assert best["last_mean"] == pytest.approx(0.7)
    assert best["best_minus_last"] == pytest.approx(0.1 + 0.1 / 3)
    # the last layer best: said "last", margin 0
    last = best_layers(depth_table([rec(k, "a", 0, 0.1 * k) for k in (1, 2, 3)])).iloc[0]
    assert last["best"] == "last" and last["best_layer"] == 3 and last["best_minus_last"] == 0


def test_a_lower_is_better_metric_picks_the_lowest_mean():
    records = [
        rec(k, "a", seed, v, metric="mse", direction="min")
        for k, values in {1: [2.0, 2.2], 2: [0.4, 0.6], 3: [1.0, 1.0]}.items()
        for seed, v in enumerate(values)
    ]
    best = best_layers(depth_table(records)).iloc[0]
    assert best["best_layer"] == 2 and best["best_mean"] == pytest.approx(0.5)
    assert best["best_minus_last"] == pytest.approx(-0.5)  # lower than the last: better


def test_rows_of_other_settings_fractions_and_backbones_are_kept_apart():
    records = three_layers("a") + three_layers("a", fraction=0.1) + three_layers("a", backbone="x")
    other_budget = three_layers("a")
    for r in other_budget:
        r["spec"] = {**r["spec"], "budget": {"num_train_epochs": 9}}
        r["run_id"] += "-long"
    table = depth_table(records + other_budget)
    assert len(table) == 4 * 3 and set(table["n"]) == {3}
    assert table.groupby(["backbone", "fraction"])["setting"].nunique().to_dict() == {
        ("models/bert-tiny", 0.1): 1,
        ("models/bert-tiny", 1.0): 2,
        ("x", 1.0): 1,
    }
    names = figure_names(table)
    assert len(set(names.values())) == 4  # the two settings of one name get their key added
    assert all("/" not in n for n in names.values())


def test_a_layer_out_of_range_is_named():
    with pytest.raises(
        ConfigError, match=r"run models/bert-tiny-probe@4-a-t-1.0-0: extra.layer 4 is not a layer"
    ):
        depth_table([rec(4, "a", 0, 0.5, groups=3)])


def test_family_of_drops_only_the_layer_suffix():
    assert family_of("probe@12") == "probe"
    assert family_of("probe") == "probe"
    assert family_of("a@b") == "a@b"


def test_the_earlier_layer_is_picked_on_validation_not_test():
    # seed 0: layer 1 has the best test score, layer 2 the best validation one: layer 2 counts
    records = [
        rec(1, "a", 0, 0.9, validation=0.5),
        rec(2, "a", 0, 0.6, validation=0.7),
        rec(3, "a", 0, 0.55, validation=0.6),
        # seed 1: layer 1 best on validation
        rec(1, "a", 1, 0.65, validation=0.8),
        rec(2, "a", 1, 0.95, validation=0.6),
        rec(3, "a", 1, 0.6, validation=0.9),  # the last layer never is "earlier"
    ]
    out = {
        (r["spec"]["variant"], r["spec"]["seed"]): r["primary_score"]
        for r in earlier_layer_records(records)
    }
    assert out == {
        ("probe", 0): 0.55,
        ("probe@earlier", 0): 0.6,
        ("probe", 1): 0.6,
        ("probe@earlier", 1): 0.65,
    }
    # a lower-is-better metric: the lowest validation error
    mse = [
        rec(1, "a", 0, 0.1, validation=0.9, metric="mse", direction="min"),
        rec(2, "a", 0, 0.8, validation=0.2, metric="mse", direction="min"),
        rec(3, "a", 0, 0.5, validation=0.5, metric="mse", direction="min"),
    ]
    picked = [r for r in earlier_layer_records(mse) if r["spec"]["variant"] == "probe@earlier"]
    assert [r["extra"]["layer"] for r in picked] == [2]


def test_layer_runs_that_record_no_layer_take_it_from_their_name_and_family():
    # `name@k` runs whose extra says nothing of layers (a method that records none): the
    # last layer is the deepest of the family on the backbone; seed 1 lacks it (no `probe`)
    records = [
        {**rec(k, "a", seed, 0.5 + 0.1 * k, validation=v), "extra": {}}
        for seed, layers in ((0, (1, 2, 3)), (1, (1, 2)))
        for k, v in zip(layers, (0.9, 0.1, 0.5))
    ]
    out = sorted(
        (r["spec"]["variant"], r["spec"]["seed"], r["primary_score"])
        for r in earlier_layer_records(records)
    )
    assert out == [("probe", 0, 0.8), ("probe@earlier", 0, 0.6), ("probe@earlier", 1, 0.6)]


def test_when_to_transfer_sees_two_layer_competitors_and_keeps_other_records():
    scores = pd.DataFrame({"source": list("abc"), "target": "t", "score": [0.1, 0.5, 0.9]})
    records = []
    for s in "abc":
        for seed in (0, 1):
            # test scores favour layer 1, validation favours layer 2; the last layer is worst
            records += [
                rec(1, s, seed, 0.9, validation=0.5),
                rec(2, s, seed, 0.7 + 0.1 * seed, validation=0.8),
                rec(3, s, seed, 0.5, validation=0.6),
            ]
    table = when_to_transfer(records, scores).set_index("fraction")
    # per tercile (one source, 2 seeds): probe@earlier 0.7, 0.8 against probe 0.5, 0.5: +0.25;
    # picked on test scores it would have been probe@1 at 0.9 (+0.40)
    for band in ("low", "mid", "high"):
        cell = table.loc[1.0, f"{band} similarity"]
        assert cell.startswith("probe@earlier +0.250 ") and cell.endswith("over probe (n=2)")
    plain = [rec(3, s, 0, 0.5, variant="feature_extraction") for s in "abc"]
    plain += [
        {**rec(3, s, 0, 0.7, variant="finetune"), "extra": {}, "run_id": f"ft{s}"} for s in "abc"
    ]
    kept = earlier_layer_records(plain)
    assert kept == plain  # records that are no `name@k` are left as they are


def test_write_depth_writes_its_tables_and_one_figure_per_target(tmp_path):
    records = three_layers("a") + three_layers(None) + three_layers("a", target="u/v w")
    paths = write_depth(records, tmp_path / "depth")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "depth.csv",
            "depth_best.csv",
            "depth.md",
            "depth__models_bert-tiny__t__probe__f1.png",
            "depth__models_bert-tiny__t__probe__f1.svg",
            "depth__models_bert-tiny__u_v_w__probe__f1.png",
            "depth__models_bert-tiny__u_v_w__probe__f1.svg",
        ]
    )
    assert all(p.is_file() for p in paths)
    assert len(pd.read_csv(tmp_path / "depth" / "depth.csv")) == 9
    best = pd.read_csv(tmp_path / "depth" / "depth_best.csv")
    assert list(best["best_layer"]) == [2, 2, 2]
    md = (tmp_path / "depth" / "depth.md").read_text()
    assert "## Best layer" in md and "layer 2" in md and "0.6000 [0.3516, 0.8484]" in md
    data = read_data(tmp_path / "depth" / "depth__models_bert-tiny__t__probe__f1.png")
    assert data["series"]["a"]["mean"][0] == pytest.approx(0.6)
    assert data["series"]["a"]["best_layer"] == 2 and set(data["series"]) == {"a", "none"}
    # no record reads a layer: nothing written
    assert write_depth([{**records[0], "extra": {}}], tmp_path / "none") == []
    assert not (tmp_path / "none").exists()
    # default probes only (each setting read at its last layer): no curve, nothing written
    last = [r for r in records if r["extra"]["layer"] == 3]
    assert len(last) == 9 and write_depth(last, tmp_path / "last") == []
    assert not (tmp_path / "last").exists()


def test_a_tiny_suite_of_every_layer_gives_one_row_per_layer(tmp_path):
    probe = {**FE, "method": "feature_extraction", "layers": "all"}
    specs = suite(methods={"probe": probe}, seeds=[0, 1], budget={**BUDGET, "num_train_epochs": 2})
    _, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache")
    assert not outcome.failed
    table = depth_table(list(records.values()))
    assert list(table["layer"]) == [1, 2, 3] and set(table["n"]) == {2}
    assert set(table["family"]) == {"probe"} and set(table["source"]) == {"none"}
    for row in table.itertuples():
        scores = [r["primary_score"] for r in records.values() if r["extra"]["layer"] == row.layer]
        assert row.mean == pytest.approx(sum(scores) / 2)
    best = best_layers(table)
    assert len(best) == 1 and best["best_layer"].iloc[0] in (1, 2, 3)
