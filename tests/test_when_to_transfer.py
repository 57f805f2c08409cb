"""The when-to-transfer table on hand-made records."""

from __future__ import annotations

import pandas as pd

from harness.analysis.when_to_transfer import terciles, when_to_transfer


def rec(variant, source, fraction, seed, score):
    spec = {
        "backbone": {"name": "b"},
        "sources": [source] if source else [],
        "method": variant,
        "variant": variant,
        "method_config": {},
        "target": "t",
        "fraction": fraction,
        "seed": seed,
        "budget": {},
        "source_budget": {},
        "source_seed": 0,
        "limit": None,
        "task_versions": {},
    }
    return {
        "run_id": f"{variant}{source}{fraction}{seed}",
        "status": "ok",
        "spec": spec,
        "primary_score": score,
        "primary_metric": "accuracy",
        "direction": "max",
    }


def test_terciles_split_pairs_by_rank():
    scores = pd.DataFrame(
        {"source": list("abcdef"), "target": "t", "score": [0.1, 0.9, 0.5, 0.3, 0.7, 0.2]}
    )
    t = terciles(scores)
    # ranks: a 1, f 2 | d 3, c 4 | e 5, b 6
    assert [t[(s, "t")] for s in "abcdef"] == ["low", "high", "mid", "mid", "high", "low"]


def test_the_winner_its_margin_and_interval_by_hand():
    # sources a, b similar (high tercile), c, d dissimilar (low); e, f in the middle
    scores = pd.DataFrame(
        {"source": list("abcdef"), "target": "t", "score": [0.9, 0.8, 0.1, 0.2, 0.5, 0.6]}
    )
    records = []
    for s in "abcdef":
        for seed in (0, 1):
            similar = s in "ab"
            # small data: frozen features win from a similar source (by 0.10 / 0.20), fine-tuning elsewhere
            fe, ft = (0.8, 0.7 - 0.1 * seed) if similar else (0.5, 0.6)
            records += [
                rec("feature_extraction", s, 0.05, seed, fe),
                rec("finetune", s, 0.05, seed, ft),
            ]
            records += [
                rec("feature_extraction", s, 1.0, seed, 0.7),
                rec("finetune", s, 1.0, seed, 0.9),
            ]
    table = when_to_transfer(records, scores).set_index("fraction")
    # high similarity, 5 %: differences fe - ft over (a,0) (a,1) (b,0) (b,1) = 0.1, 0.2, 0.1, 0.2:
    # mean 0.15, sd 0.0577, t(0.975, 3) = 3.182: half-width 3.182 * 0.0577 / 2 = 0.092
    assert (
        table.loc[0.05, "high similarity"]
        == "feature_extraction +0.150 [+0.058, +0.242] over finetune (n=4)"
    )
    assert table.loc[0.05, "low similarity"].startswith("finetune +0.100 [+0.100, +0.100]")
    assert table.loc[1.0, "high similarity"].startswith("finetune +0.200")


def test_no_single_source_runs_gives_an_empty_table():
    assert when_to_transfer(
        [rec("finetune", None, 0.1, 0, 0.5)], pd.DataFrame(columns=["source", "target", "score"])
    ).empty
