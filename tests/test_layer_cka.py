"""Layer-by-layer CKA of two task-trained encoders (#20): the CKA matrix against hand-computed
values, the parting depth, and what `transferbench similarity` writes of them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from harness.errors import ConfigError
from harness.similarity.layer_cka import DEFAULT_LEVEL, cka_matrix, parting_depth
from harness.similarity.measures.cka import linear_cka

GRADED = ["graded_text_target", "graded_text_r100"]


def test_cka_of_a_rotation_or_a_scaling_of_the_same_features_is_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5))
    q = np.linalg.qr(rng.normal(size=(5, 5)))[0]  # orthogonal
    m = cka_matrix([torch.tensor(x)], [torch.tensor(x @ q), torch.tensor(3.7 * x)])
    assert m.shape == (1, 2) and m == pytest.approx(np.ones((1, 2)), abs=1e-12)


def test_cka_matrix_by_hand():
    # X (3 × 2) and Y (3 × 1) are already centred. Xᵀ X = [[2, 1], [1, 2]], ‖·‖_F = √10;
    # Yᵀ Y = [[2]], ‖·‖_F = 2; Yᵀ X = [2, 1], ‖·‖_F² = 5: CKA = 5 / (2 √10) = 0.790569...
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    y = torch.tensor([[1.0], [0.0], [-1.0]])
    flat = torch.ones(3, 2)  # a constant layer shares nothing: 0, as linear_cka has it
    m = cka_matrix([x, y], [x, y, flat])
    by_hand = 5 / (2 * math.sqrt(10))
    assert m == pytest.approx(np.array([[1.0, by_hand, 0.0], [by_hand, 1.0, 0.0]]), abs=1e-12)
    # the same value as the registered measure's linear CKA, on other shapes too
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 7)), rng.normal(size=(30, 3)) + 5.0
    assert cka_matrix([torch.tensor(a)], [torch.tensor(b)])[0, 0] == pytest.approx(
        linear_cka(a, b), rel=1e-10
    )


def test_cka_matrix_needs_the_same_rows():
    with pytest.raises(ConfigError, match="same rows"):
        cka_matrix([torch.ones(4, 2)], [torch.ones(5, 2)])
    with pytest.raises(ConfigError, match="no layers"):
        cka_matrix([], [torch.ones(4, 2)])


def test_parting_depth_is_the_first_layer_below_the_level():
    m = np.full((4, 4), 0.1)
    np.fill_diagonal(m, [0.9, 0.6, 0.4, 0.2])
    assert parting_depth(m, 0.5) == 3
    assert parting_depth(m, 0.7) == 2
    assert parting_depth(m, 0.95) == 1
    assert parting_depth(m, 0.2) is None  # 0.2 is not below 0.2: they never part
    assert parting_depth(np.eye(3)) is None and DEFAULT_LEVEL == 0.5
    with pytest.raises(ConfigError, match="square"):
        parting_depth(np.ones((2, 3)))
    with pytest.raises(ConfigError, match="level"):
        parting_depth(np.eye(2), 1.5)


def _request(tmp_path, measures):
    from harness.similarity.tables import SimilarityRequest

    return SimilarityRequest(
        tasks=GRADED,
        measures=measures,
        limit=48,
        max_rows=48,
        source_epochs=1,
        output_dir=tmp_path / "sim",
        cache_dir=tmp_path / "cache",
        n_boot=20,
    )


def test_similarity_writes_the_layer_cka_of_each_pair(tmp_path):
    from harness.similarity.layer_cka import layer_cka_pairs, probe_layers, probe_rows
    from harness.similarity.tables import write_similarity

    said: list[str] = []
    written = write_similarity(_request(tmp_path, ["knn_probe"]), echo=said.append)
    out = tmp_path / "sim"
    assert {out / "layer_cka.csv", out / "layer_cka_parting.csv"} <= set(written)
    long = pd.read_csv(out / "layer_cka.csv")
    parting = pd.read_csv(out / "layer_cka_parting.csv")
    pairs = {f"{s}→{t}" for s in GRADED for t in GRADED if s != t}
    assert set(long["pair"]) == pairs and set(parting["pair"]) == pairs
    assert long["cka"].between(0.0, 1.0).all()
    for pair, group in long.groupby("pair"):
        n = int(parting.set_index("pair").loc[pair, "layers"])
        assert n == 3 and len(group) == n * n  # bert-tiny: the stem and two blocks
        assert sorted(set(group["layer_a"])) == sorted(set(group["layer_b"])) == [1, 2, 3]
        diagonal = group[group["layer_a"] == group["layer_b"]].sort_values("layer_a")["cka"]
        row = parting.set_index("pair").loc[pair]
        shown = [float(v) for v in row["diagonal"].split(";")]
        assert shown == pytest.approx(diagonal.tolist(), abs=1e-4)
        below = [k for k, v in enumerate(diagonal, start=1) if v < row["level"]]
        got = None if pd.isna(row["parting_depth"]) else int(row["parting_depth"])
        assert got == (below[0] if below else None)
        s, t = pair.split("→")
        png = out / f"layer_cka_{s}_to_{t}.png"
        assert png in written and png.read_bytes()[:4] == b"\x89PNG"
    assert (parting["level"] == DEFAULT_LEVEL).all()
    rows = parting.groupby("target")["probe_rows"].first()  # --limit 48, or a smaller split
    assert rows.to_dict() == {"graded_text_target": 30, "graded_text_r100": 48}
    text = "\n".join(said)
    assert "layer CKA: where the source-trained and target-trained encoders part ways" in text
    # an encoder against itself, on the same probe rows: 1 at every layer
    computer = _computer(tmp_path, {"num_train_epochs": 1})
    ctx = computer.context(GRADED[1])
    layers = probe_layers(ctx, ctx.base_encoder(), probe_rows(ctx))
    assert len(layers) == 3 and len(layers[0]) == 48
    assert np.diagonal(cka_matrix(layers, layers)) == pytest.approx(np.ones(3), abs=1e-9)
    # only the pairs asked for (a suite's own pairs), from the encoders the command trained
    found, skipped = layer_cka_pairs(computer, GRADED, {(GRADED[1], GRADED[0])})
    assert [r.pair for r in found] == [f"{GRADED[1]}→{GRADED[0]}"] and not skipped
    saved = pd.read_csv(out / "layer_cka.csv").query("pair == @found[0].pair")["cka"]
    assert found[0].matrix.ravel() == pytest.approx(saved.to_numpy(), abs=1e-9)
    # encoders of another source budget are not cached: skipped with the reason, not trained
    entries = sorted((tmp_path / "cache" / "sources").iterdir())
    found, skipped = layer_cka_pairs(_computer(tmp_path, {"num_train_epochs": 2}), GRADED)
    assert not found and len(skipped) == 2 and "no cached encoder trained on" in skipped[0]
    assert sorted((tmp_path / "cache" / "sources").iterdir()) == entries


def _computer(tmp_path, source_budget):
    """A computer over the test's cache, set up as `write_similarity` sets up bert-tiny."""
    from dataclasses import asdict

    from harness.similarity.compute import SimilarityComputer, SimilaritySetup
    from harness.similarity.tables import reference_backbone
    from harness.spec import Budget
    from harness.suites import DEFAULT_BACKBONES
    from harness.workspace import Workspace

    setup = SimilaritySetup(
        backbone=reference_backbone(None, {}, "text", DEFAULT_BACKBONES),
        source_budget=asdict(Budget.from_dict(source_budget, "source budget")),
        limit=48,
        max_rows=48,
    )
    computer = SimilarityComputer(Workspace(cache_dir=tmp_path / "cache"), setup)
    computer.workspace.register_corpus(setup.backbone, GRADED)
    return computer


def test_layer_cka_trains_nothing_the_measures_did_not(tmp_path):
    from harness.similarity.tables import write_similarity

    said: list[str] = []
    written = write_similarity(_request(tmp_path, ["frechet"]), echo=said.append)
    assert not any(p.name.startswith("layer_cka") for p in written)
    assert not (tmp_path / "sim" / "layer_cka.csv").exists()
    assert not (tmp_path / "cache" / "sources").exists()  # no encoder trained on a task
    assert any("layer CKA: no pair with both task-trained encoders cached" in s for s in said)
