"""`transferbench report` renders in a real browser: headless Debian Chromium driven by Selenium
(`.ci/run` installs the `chromium` and `chromium-driver` packages; the test extra, selenium).
Without a browser: every picture on the page draws the numbers of the csv it stands for (read
back from the picture's own data, not its file name), the intervals and too-few-pairs cells are
marked, and `recommend` says first when its evidence does not clear the baselines."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from suitekit import run, suite

from harness.cli import main

SOURCES = ["none", "graded_text_r100", "graded_text_r000"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    specs = suite(
        targets=["graded_text_target"],
        sources=SOURCES,
        methods={"finetune": {}, "scratch": {}},
        fractions=[0.05, 0.5],
        seeds=[0, 1],
        limit=96,
        budget={"num_train_epochs": 2, "learning_rate": 2e-3},
        source_budget={"num_train_epochs": 1},
    )
    _, outcome, _ = run(specs, out, cache)
    assert not outcome.failed
    import yaml
    from suitekit import TEXT_BB

    (out / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "backbones": [TEXT_BB],
                "sources": SOURCES,
                "limit": 96,
                "targets": ["graded_text_target"],
                "source_budget": {"num_train_epochs": 1},
                "budget": {"num_train_epochs": 2, "learning_rate": 2e-3},
            }
        )
    )
    assert (
        main(
            [
                "similarity",
                "--results",
                str(out),
                "--measures",
                "logme,mean_embedding,knn_probe",
                "--max_rows",
                "96",
                "--cache_dir",
                str(cache),
                "--n_boot",
                "50",
            ]
        )
        == 0
    )
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


def _same(a, b, tol=1e-9) -> bool:
    """Two cells equal: both missing, or numbers within `tol`."""
    a = None if a is None or (isinstance(a, float) and math.isnan(a)) else float(a)
    b = None if b is None or (isinstance(b, float) and math.isnan(b)) else float(b)
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)


def _csv_cell(v):
    """A cell of a measure's csv as a number (None: missing, or `failed: <reason>`)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _matrix_matches(data: dict, csv: Path, sign: float = 1.0) -> None:
    """The picture's matrix is the csv's (times `sign`), cell by cell, by row and column label (a
    clustered heatmap reorders both)."""
    frame = pd.read_csv(csv, index_col=0)
    frame.index, frame.columns = frame.index.astype(str), frame.columns.astype(str)
    assert set(data["index"]) <= set(frame.index) and set(data["columns"]) <= set(frame.columns), (
        csv,
        data["index"],
        data["columns"],
        list(frame.index),
        list(frame.columns),
    )
    drawn = sum(v is not None for row in data["values"] for v in row)
    assert drawn, f"{csv.name}: the picture draws no value"
    for i, r in enumerate(data["index"]):
        for j, c in enumerate(data["columns"]):
            cell = _csv_cell(frame.loc[r, c])
            assert _same(data["values"][i][j], None if cell is None else sign * cell), (
                csv.name,
                r,
                c,
            )


def test_every_picture_draws_the_numbers_of_the_csv_it_stands_for(report, tmp_path):
    """Issue #18: each picture's drawn numbers (a JSON chunk in the PNG, read back with PIL) are
    those of the csv it stands for; no two pictures draw the same numbers; the gain matrices of
    fractions 0.05 and 0.5 are two pictures, named by the full fraction."""
    from PIL import Image

    from harness.analysis.leaderboard import build
    from harness.analysis.plots import DATA_KEY, read_data

    results = report.parent.parent
    board = tmp_path / "board"
    built = build(results, board, "md", strict=False)
    similarity = results / "similarity"
    page = report.read_text()
    srcs = re.findall(r"<img src='([^']+)'", page)
    assert len(srcs) == len(set(srcs)), srcs  # every picture on the page is its own file
    pictures = [report.parent / s for s in srcs]
    assert sorted(pictures) == sorted((report.parent / "img").rglob("*.png"))
    checked: dict[str, list[str]] = {}
    payloads: dict[str, str] = {}
    for png in pictures:
        with Image.open(png) as im:
            assert DATA_KEY in im.text, f"{png.name} carries no data"
        data = read_data(png)
        name = png.stem
        if png.parent.name == "img" and name.startswith("gain_"):  # the leaderboard's gain matrices
            _matrix_matches(data, board / f"gain_matrix__{name[len('gain_') :]}.csv")
            checked.setdefault("gain", []).append(name)
        elif name.startswith("curve_"):  # a learning curve: aggregate.csv's means by fraction
            agg = pd.read_csv(board / "aggregate.csv")
            backbone, target = name[len("curve_") :].split("_", 1)
            rows = agg[(agg["backbone"] == backbone) & (agg["target"] == target)]
            assert sum(len(line["x"]) for line in data["lines"]) == len(rows)
            for line in data["lines"]:
                for x, y in zip(line["x"], line["y"]):
                    hit = rows[
                        (rows["variant"] == line["variant"])
                        & (rows["sources"] == line["sources"])
                        & (rows["fraction"] == x)
                    ]
                    assert len(hit) == 1 and _same(y, hit["mean"].iloc[0]), (line["label"], x, y)
            checked.setdefault("curve", []).append(name)
        elif name == "hinton_gain":  # the realised gain the measures are set against
            _matrix_matches(data, similarity / "gain.csv")
            checked.setdefault("similarity", []).append(name)
        elif name.startswith("hinton_"):  # a measure's source × target matrix
            _matrix_matches(data, similarity / f"{name[len('hinton_') :]}.csv")
            checked.setdefault("similarity", []).append(name)
        elif name.startswith("heatmap_"):  # heatmap_<measure>_<modality>, clustered
            _matrix_matches(data, similarity / f"{name[len('heatmap_') :].rsplit('_', 1)[0]}.csv")
            checked.setdefault("similarity", []).append(name)
        elif name.startswith("scatter_"):  # gain against a measure, one point per pair
            scores = pd.read_csv(similarity / f"{name[len('scatter_') :]}.csv", index_col=0)
            gain = pd.read_csv(similarity / "gain.csv", index_col=0)
            assert data["labels"]
            for label, x, y in zip(data["labels"], data["x"], data["y"]):
                s, t = label.split("→")
                assert _same(x, _csv_cell(scores.loc[s, t])) and _same(y, gain.loc[s, t]), label
            checked.setdefault("similarity", []).append(name)
        elif name.startswith("task_map_"):  # tasks by Fréchet distance (the negated score)
            _matrix_matches(data, similarity / "frechet.csv", sign=-1.0)
            checked.setdefault("similarity", []).append(name)
        elif name.startswith("layer_cka_"):  # a pair's CKA at every pair of layers
            long = pd.read_csv(similarity / "layer_cka.csv")
            s, t = name[len("layer_cka_") :].split("_to_")
            rows = long[(long["source"] == s) & (long["target"] == t)]
            assert (data["source"], data["target"]) == (s, t)
            for _, r in rows.iterrows():
                v = data["values"][int(r["layer_a"]) - 1][int(r["layer_b"]) - 1]
                assert _same(v, r["cka"]), (name, r["layer_a"], r["layer_b"])
            assert sum(len(v) for v in data["values"]) == len(rows)
            checked.setdefault("similarity", []).append(name)
        elif name.startswith("covariance_"):  # a task's feature covariance: no csv, data only
            assert data["kind"] == "matrix" and len(data["index"]) == len(data["columns"])
        else:
            raise AssertionError(f"{png.name}: a picture this test does not know how to check")
        payload = json.dumps({k: v for k, v in data.items() if k != "title"}, sort_keys=True)
        assert payload not in payloads, (
            f"{png.name} draws the same numbers as {payloads.get(payload)}"
        )
        payloads[payload] = png.name
    matrices = [n for n, m in built["matrices"].items() if m.notna().any().any()]
    assert sorted(checked["gain"]) == sorted(f"gain_{n}" for n in matrices)
    per_fraction = [
        [n for n in checked["gain"] if re.search(rf"__f{f}(__|$)", n)] for f in ("0.05", "0.5")
    ]
    assert per_fraction[0] and len(per_fraction[0]) == len(per_fraction[1]), checked[
        "gain"
    ]  # full fraction
    assert checked["curve"] and "hinton_gain" in checked["similarity"]


def test_the_report_marks_intervals_on_two_seeds_and_rankings_on_too_few_pairs(report):
    """Issue #18: every interval of the report rests on 2 seeds (†, with its footnote) and lies in
    accuracy's [0, 1]; the similarity cells over 2 source→target pairs read `n/a: 2 pairs`."""
    from harness.analysis.intervals import FEW_SEEDS_MARK, INTERVAL_NOTE

    page = report.read_text()
    cells = re.findall(r"<td>(\[[^<]*\][^<]*)</td>", page)
    assert cells and all(c.endswith(FEW_SEEDS_MARK) for c in cells), cells
    for c in cells:
        low, high = map(float, re.match(r"\[([-0-9.]+), ([-0-9.]+)\]", c).groups())
        assert 0.0 <= low <= high <= 1.0, c
    assert INTERVAL_NOTE.split(":")[0] in page
    table = pd.read_csv(report.parent.parent / "similarity" / "correlation.csv")
    assert (table["pairs"] == 2).all() and not table["rankable"].any()
    assert (table["min_p"] == 0.5).all()
    section = page[page.index("id='similarity'") :]
    assert "n/a: 2 pairs" in section and "too few source→target pairs to rank" in section
    assert not re.search(r"[+-]1\.00 \[[+-]1\.00, [+-]1\.00\]", section)  # no τ over 2 pairs


def test_recommend_says_first_that_its_evidence_does_not_clear_the_baselines(report, capsys):
    """Issue #18: after a suite with 2 source→target pairs, every measure ties the baselines over
    too few pairs to rank; `recommend` says so before its ranking, still ranks (by the k-NN probe,
    the baseline, on the tie) and marks the recommendation a guess."""
    results = report.parent.parent
    capsys.readouterr()
    assert (
        main(
            [
                "recommend",
                "--target",
                "graded_text_target",
                "--results",
                str(results),
                "--max_rows",
                "96",
                "--cache_dir",
                str(results.parent / "cache-recommend"),
            ]
        )
        == 0
    )
    shown = capsys.readouterr().out
    first = shown.index("caution: no measure's evidence clears its baselines")
    assert first < shown.index("sources for graded_text_target, ranked by")
    assert "n/a: 2 pairs, too few to rank" in shown and "ties it" in shown
    assert "ranked by knn_probe" in shown and "(a guess: see the caution above)" in shown
    assert "is no evidence (n/a: 2 pairs)" in shown
