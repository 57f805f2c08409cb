"""The report's four views of #20 in a real browser (headless Chromium, as tests/test_report.py):
score by depth, the layer-transfer figure, layer-by-layer CKA and the domain table, each drawn
from the files it stands for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from suitekit import TEXT_BB, run, suite

from harness.analysis.plots import read_data
from harness.analysis.report_layers import domain_table
from harness.cli import main

TARGET, SOURCES = "graded_text_target", ["none", "graded_text_r100", "graded_text_target"]
SETTINGS = {
    "targets": [TARGET],
    "sources": SOURCES,
    "self_sources": True,
    "max_train_samples": 64,  # caps, not --limit: runs under --limit are not results
    "max_eval_samples": 32,
    "max_test_samples": 64,
    "budget": {"num_train_epochs": 1, "learning_rate": 2e-3},
    "source_budget": {"num_train_epochs": 1},
}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    specs = suite(
        methods={
            "probe": {"method": "feature_extraction", "layers": "all"},
            "tuned": {"method": "finetune", "copy_layers": "all"},
            "scratch": {},
        },
        fractions=[1.0],
        seeds=[0, 1],
        **SETTINGS,
    )
    _, outcome, _ = run(specs, out, cache)
    assert not outcome.failed
    (out / "config.yaml").write_text(yaml.safe_dump({"backbones": [TEXT_BB], **SETTINGS}))
    measures = "proxy_a_distance,mmd,logme"
    args = ["similarity", "--results", str(out), "--measures", measures, "--max_rows", "64"]
    assert main([*args, "--cache_dir", str(cache), "--n_boot", "20"]) == 0
    assert main(["report", "--results", str(out)]) == 0
    return out / "report" / "index.html"


def test_the_report_shows_depth_layer_transfer_layer_cka_and_domains(report, browser):
    browser.get(report.as_uri())
    for view in ("depth", "layer-transfer", "layer-cka", "domains"):
        rows = browser.find_elements("css selector", f"#{view} ~ table tbody tr")
        assert rows, view
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    assert all(complete and w > 0 for _, complete, w in images), images
    srcs = [s for s, *_ in images]
    for kind in ("img/depth/", "img/layer_transfer/", "img/layer_cka/"):
        assert any(kind in s for s in srcs), (kind, srcs)


def test_each_view_draws_the_numbers_of_its_files(report):
    results = report.parent.parent
    depth = pd.read_csv(results / "report" / "img" / "depth" / "depth.csv")
    assert sorted(set(depth["layer"])) == [1, 2, 3] and set(depth["n"]) == {2}
    lt = pd.read_csv(results / "report" / "img" / "layer_transfer" / "layer_transfer.csv")
    png = next((results / "report" / "img" / "layer_transfer").glob("*.png"))
    drawn = read_data(png)
    assert set(lt["curve"]) == {"base", "BnB+", "AnB+"}  # the target as its own source too
    assert set(lt.loc[lt["curve"] != "base", "seeds"]) == {2}
    bnb = lt[(lt["curve"] == "BnB+")].sort_values("n")
    assert drawn["curves"]["BnB+"]["mean"] == pytest.approx(list(bnb["mean"]))
    parting = pd.read_csv(results / "similarity" / "layer_cka_parting.csv")
    assert len(parting) >= 1 and set(parting["layers"]) == {3}
    domains = domain_table(results / "similarity")
    pad = pd.read_csv(results / "similarity" / "proxy_a_distance.csv", index_col=0)
    row = domains.iloc[0]
    assert row["proxy_a_distance"] == pytest.approx(float(pad.loc[row["source"], row["target"]]))
    assert {"mmd", "logme", "gain"} <= set(domains.columns)
    from harness.similarity.label_overlap import label_overlap
    from harness.taskregistry import TaskRegistry

    cards = TaskRegistry()
    for _, r in domains.iterrows():  # read from the cards, written by `similarity`
        want = label_overlap(cards.get(r["source"]), cards.get(r["target"]))
        assert r["label_overlap"] == pytest.approx(want, nan_ok=True), (r["source"], r["target"])
    assert list(domains.columns[:3]) == ["source", "target", "label_overlap"]
    # the gain's interval, by hand from the records: each fine-tuning run (similarity's default
    # --method) against the no-source run of its variant (layers kept) and seed; a seed's three
    # layers averaged (one replicate), t over the 2 seeds
    from scipy import stats

    from harness.records import load_records

    runs = [r for r in load_records(results)[0] if r["spec"]["method"] == "finetune"]
    score = {
        (tuple(r["spec"]["sources"]), r["spec"]["variant"], r["spec"]["seed"]): r["primary_score"]
        for r in runs
    }
    row = domains[domains["source"] == "graded_text_r100"].iloc[0]
    per_seed = [
        np.mean(
            [
                v - score[((), var, s)]
                for (src, var, s), v in score.items()
                if src == (row["source"],) and s == seed
            ]
        )
        for seed in (0, 1)
    ]
    half = stats.t.ppf(0.975, 1) * np.std(per_seed, ddof=1) / np.sqrt(2)
    assert row["gain_seeds"] == 2
    assert row["gain"] == pytest.approx(np.mean(per_seed))
    assert row["gain_ci_low"] == pytest.approx(np.mean(per_seed) - half)
    assert row["gain_ci_high"] == pytest.approx(np.mean(per_seed) + half)
