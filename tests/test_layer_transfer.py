"""Yosinski's Figure 2 (#20): copy-n variants and self sources in suites, the four curves and
the two effects from records against hand-computed numbers (end to end: test_report_layers)."""

from __future__ import annotations

import pytest
from suitekit import suite

from harness.analysis.layer_transfer import (
    layer_transfer_effects,
    layer_transfer_frame,
    layer_transfer_table,
    write_layer_transfer,
)
from harness.analysis.plots import read_data
from harness.errors import ConfigError
from harness.suites import expand, load_suite, resolve_suite
from harness.taskregistry import TaskRegistry

T975_1 = 12.706204736174707  # t(0.975, 1)


def _record(method, seed, score, source=None, n=-1, tuned=True, target="b"):
    return {
        "status": "ok",
        "comparable": True,
        "primary_score": score,
        "primary_metric": "accuracy",
        "spec": {
            "method": method,
            "variant": method if n < 0 else f"{'tuned' if tuned else 'frozen'}@{n}",
            "method_config": {"copy_first_n": n, "finetune_copied": tuned},
            "sources": [source] if source else [],
            "target": target,
            "seed": seed,
            "fraction": 1.0,
            "backbone": {"name": "net"},
        },
    }


def _figure_records():
    """Base 0.60 / 0.62; BnB (frozen, from b itself) dips at n = 2; AnB falls at n = 3 (the last)."""
    recs = [_record("scratch", 0, 0.60), _record("scratch", 1, 0.62)]
    scores = {
        ("b", False): {1: (0.61, 0.61), 2: (0.50, 0.53), 3: (0.60, 0.62)},
        ("b", True): {1: (0.61, 0.63), 2: (0.61, 0.62), 3: (0.61, 0.61)},
        ("a", False): {1: (0.60, 0.62), 2: (0.58, 0.58), 3: (0.40, 0.44)},
        ("a", True): {1: (0.64, 0.66), 2: (0.64, 0.66), 3: (0.64, 0.66)},
    }
    for (source, tuned), by_n in scores.items():
        for n, pair in by_n.items():
            for seed, score in enumerate(pair):
                recs.append(_record("finetune", seed, score, source, n, tuned))
    return recs


def test_the_four_curves_and_their_means_by_hand():
    frame = layer_transfer_frame(_figure_records())
    assert sorted(set(frame["curve"])) == ["AnB", "AnB+", "BnB", "BnB+", "base"]
    table = layer_transfer_table(frame)
    row = table[(table["curve"] == "BnB") & (table["n"] == 2)].iloc[0]
    assert row["mean"] == pytest.approx(0.515) and row["seeds"] == 2
    # t interval over 2 seeds: 0.515 ± 12.706 · s/√2, s = 0.015·√2 → half-width 12.706 · 0.015
    assert row["ci_high"] - row["mean"] == pytest.approx(T975_1 * 0.015)
    base = table[table["curve"] == "base"].iloc[0]
    assert base["n"] == 0 and base["mean"] == pytest.approx(0.61)


def test_the_papers_effects_as_paired_differences_by_hand():
    effects = layer_transfer_effects(layer_transfer_frame(_figure_records())).set_index("effect")
    dip = effects.loc["BnB at n=2 (its deepest middle dip) − base"]
    # seed 0: 0.50 − 0.60, seed 1: 0.53 − 0.62 → −0.095 ± 12.706 · 0.005
    assert dip["difference"] == pytest.approx(-0.095)
    assert dip["ci_high"] == pytest.approx(-0.095 + T975_1 * 0.005)
    assert dip["below zero?"] == "yes"
    top = effects.loc["AnB − BnB at n=3 (from a)"]
    assert top["difference"] == pytest.approx(-0.19)  # (0.40 − 0.60 + 0.44 − 0.62) / 2
    assert top["below zero?"] == "yes"  # differences −0.20, −0.18: half-width 12.706 · 0.01
    plus = effects.loc["AnB+ over all n − base (from a)"]
    assert plus["difference"] == pytest.approx(0.04) and plus["above zero?"] == "yes"
    flat = effects.loc["BnB+ at n=2 − base"]  # +0.01 and 0.00: the interval holds 0
    assert flat["difference"] == pytest.approx(0.005) and flat["below zero?"] == "within noise"


def test_the_figure_carries_what_it_draws(tmp_path):
    written, table, effects = write_layer_transfer(_figure_records(), tmp_path)
    png = next(p for p in written if p.suffix == ".png")
    data = read_data(png)
    assert data["base"] == pytest.approx(0.61)
    assert data["curves"]["BnB"]["mean"] == pytest.approx([0.61, 0.515, 0.61])
    assert data["curves"]["AnB (A = a)"]["n"] == [1, 2, 3]
    # every seed as a dot (n, score); no 95 % band over 2 seeds (t = 12.7 would swamp the curves)
    flat = lambda runs: [v for run in runs for v in run]  # noqa: E731
    bnb = [[1, 0.61], [1, 0.61], [2, 0.50], [2, 0.53], [3, 0.60], [3, 0.62]]
    assert flat(data["curves"]["BnB"]["runs"]) == pytest.approx(flat(bnb))
    assert flat(data["curves"]["AnB+ (A = a)"]["runs"][-2:]) == pytest.approx([3, 0.64, 3, 0.66])
    assert not any(c["band"] for c in data["curves"].values())
    three = _figure_records() + [
        _record("finetune", 2, 0.6, source, n, tuned)
        for source in "ab"
        for tuned in (False, True)
        for n in (1, 2, 3)
    ]
    banded = read_data(
        next(p for p in write_layer_transfer(three, tmp_path / "3")[0] if p.suffix == ".png")
    )
    assert all(c["band"] and len(c["runs"]) == 9 for c in banded["curves"].values())
    assert (tmp_path / "layer_transfer_effects.csv").exists() and len(effects) == 4
    assert write_layer_transfer([_record("scratch", 0, 0.6)], tmp_path / "none")[0] == []


def test_the_yosinski_suite_expands_to_the_four_curves_over_every_layer_group():
    data, where = load_suite("yosinski")
    specs = expand(resolve_suite(data, {}, where), TaskRegistry(), where)
    copied = [s for s in specs if s.method == "finetune"]
    assert {s.method_config["copy_first_n"] for s in copied} == set(range(1, 11))  # ResNet-20
    assert {(s.sources, s.method_config["finetune_copied"]) for s in copied} == {
        (("cifar10_half_a",), False),
        (("cifar10_half_a",), True),
        (("cifar10_half_b",), False),  # BnB: the target is its own source
        (("cifar10_half_b",), True),
    }
    assert len(copied) == 4 * 10 * 2 and sum(s.method == "scratch" for s in specs) == 2


def test_without_self_sources_a_target_is_never_its_own_source():
    specs = suite(
        targets=["synth_text_near"],
        sources=["synth_text_near", "synth_text_anchor"],
        methods={"finetune": {}},
    )
    assert [s.sources for s in specs] == [("synth_text_anchor",)]
    with pytest.raises(ConfigError, match="field 'self_sources': expected true or false"):
        suite(methods={"finetune": {}}, self_sources="yes")
    with pytest.raises(ConfigError, match="copy_layers must be 'all'"):
        suite(methods={"finetune": {"copy_layers": "every"}})
    with pytest.raises(ConfigError, match="copy_first_n 7 is out of range"):
        suite(methods={"finetune": {"copy_first_n": 7}})
