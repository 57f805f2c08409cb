"""`transferbench report` renders in a real browser: headless Debian Chromium driven by Selenium
(`.ci/run` installs the `chromium` and `chromium-driver` packages; the test extra, selenium)."""

from __future__ import annotations

from pathlib import Path

import pytest
from suitekit import run, suite

from harness.cli import main

SOURCES = ["none", "graded_text_r100", "graded_text_r000"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    specs = suite(targets=["graded_text_target"], sources=SOURCES, methods={"finetune": {}, "scratch": {}},
                  fractions=[0.2, 0.5], seeds=[0, 1], limit=96, budget={"num_train_epochs": 2, "learning_rate": 2e-3},
                  source_budget={"num_train_epochs": 1})  # fmt: skip
    _, outcome, _ = run(specs, out, cache)
    assert not outcome.failed
    import yaml
    from suitekit import TEXT_BB

    (out / "config.yaml").write_text(yaml.safe_dump({"backbones": [TEXT_BB], "sources": SOURCES, "limit": 96,
                                                     "targets": ["graded_text_target"], "source_budget": {"num_train_epochs": 1},
                                                     "budget": {"num_train_epochs": 2, "learning_rate": 2e-3}}))  # fmt: skip
    assert main(["similarity", "--results", str(out), "--measures", "logme,mean_embedding,knn_probe",
                 "--max_rows", "96", "--cache_dir", str(cache), "--n_boot", "50"]) == 0  # fmt: skip
    assert main(["report", "--results", str(out)]) == 0
    return out / "report" / "index.html"


def test_the_report_renders_its_tables_and_pictures(report, browser):
    browser.get(report.as_uri())
    assert browser.title == "TransferBench report"
    rows = browser.find_elements("css selector", "table.leaderboard tbody tr")
    methods = [r.find_elements("css selector", "td")[1].text for r in rows]
    assert "majority" in methods and "finetune" in methods and "scratch" in methods
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight])"
    )
    srcs = [src for src, *_ in images]
    assert all(complete and w > 0 and h > 0 for _, complete, w, h in images), (
        images
    )  # every picture loaded
    assert any("gain_" in s for s in srcs), srcs  # the gain matrix as a Hinton diagram
    assert any("curve_" in s for s in srcs), srcs  # learning curves (two fractions)
    assert any("hinton_logme" in s for s in srcs), srcs  # a similarity matrix
    assert browser.find_elements(
        "css selector", "#similarity + p + table tbody tr"
    )  # the correlation table
    links = browser.find_elements("css selector", "table.provenance a")
    assert len(links) == len(list(report.parent.parent.glob("runs/*.json")))
    browser.get(links[0].get_attribute("href"))  # provenance: each row links to its record
    assert '"run_id"' in browser.page_source


def test_report_on_a_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "nowhere")]) == 2
    assert "no such results folder" in capsys.readouterr().err
