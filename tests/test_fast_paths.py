"""Paths made fast for the test run and the similarity tables (#19), each checked against the
slow path it replaced: Kendall's τ-b against scipy to the bit and a hand-computed case, a
`datasets` column read through Arrow, and a CPU training that ends without a full garbage
collection."""

from __future__ import annotations

import gc
import math
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
from scipy import stats

from harness.analysis.kendall import kendall_tau_b
from harness.data.resplitting import holdout
from harness.data.split_validation import validate_split
from harness.data.subsets import as_array, column_values, stratified_sample
from harness.runner import make_accelerator
from harness.training import release_prepared


def test_kendall_tau_b_by_hand():
    # 6 pairs, 5 concordant and 1 discordant (2 ↔ 3): (5 − 1) / 6
    assert kendall_tau_b(np.array([1, 2, 3, 4.0]), np.array([1, 3, 2, 4.0])) == pytest.approx(4 / 6)
    # a tie in x: pairs (0,1) tied in x, (0,2) and (1,2) concordant: 2 / √(2 · 3)
    assert kendall_tau_b(np.array([1, 1, 2.0]), np.array([1, 2, 3.0])) == pytest.approx(
        2 / math.sqrt(6)
    )
    assert math.isnan(kendall_tau_b(np.array([1, 1, 1.0]), np.array([1, 2, 3.0])))


def test_kendall_tau_b_equals_scipy_to_the_bit_with_ties():
    rng = np.random.default_rng(0)
    for t in range(500):
        n = int(rng.integers(2, 25))
        x = rng.integers(0, int(rng.integers(1, 6)), n).astype(float)
        y = rng.normal(size=n) if t % 2 else rng.integers(0, 4, n).astype(float)
        ours, theirs = kendall_tau_b(x, y), stats.kendalltau(x, y).statistic
        assert (math.isnan(ours) and math.isnan(theirs)) or ours == theirs, (x, y)


def test_a_datasets_column_is_read_whole_and_samples_alike():
    ds = datasets.Dataset.from_dict({"labels": [i % 3 for i in range(300)], "x": list(range(300))})
    sub = ds.select(range(1, 300, 2))  # an indices mapping, as a capped split has
    column = sub["labels"]
    assert as_array(column).tolist() == [row["labels"] for row in sub]
    assert stratified_sample(column, 30, 0, True) == stratified_sample(list(column), 30, 0, True)


def _labelled(labels: list, class_label: bool) -> datasets.Dataset:
    ds = datasets.Dataset.from_dict(
        {"labels": labels, "text": [f"row {i}" for i in range(len(labels))]}
    )
    if class_label:
        ds = ds.cast_column("labels", datasets.ClassLabel(num_classes=max(labels) + 1))
    return ds.select(range(len(ds) - 1, -1, -1))  # an indices mapping, as a capped split has


@pytest.mark.parametrize(
    "labels, class_label",
    [
        ([i % 3 for i in range(200)], True),  # stratified
        ([0] * 150 + [1] * 49 + [2], True),  # a class of one row: not stratified
        ([i % 3 for i in range(200)], False),  # labels that are no ClassLabel: not stratified
        ([i % 7 for i in range(30)], True),  # 3 held-out rows for 7 classes: not stratified
    ],
)
def test_the_held_out_validation_split_is_the_one_train_test_split_makes(labels, class_label):
    """`holdout` reads the labels through Arrow and cuts the rows `datasets`' own
    `train_test_split(stratify_by_column="labels")` cuts (or its unstratified split where that
    one refuses), row for row."""
    ds = _labelled(labels, class_label)
    card = SimpleNamespace(
        name="t", validation_fraction=0.1, has_classes=True, num_labels=len(set(labels))
    )
    for seed in (0, 3):
        n_val = int(round(len(ds) * 0.1))
        try:
            parts = ds.train_test_split(test_size=n_val, seed=seed, stratify_by_column="labels")
        except ValueError:
            parts = ds.train_test_split(test_size=n_val, seed=seed)
        train, validation = holdout(card, ds, seed)
        assert (
            train["text"] == parts["train"]["text"] and validation["text"] == parts["test"]["text"]
        )


def test_a_label_column_is_read_whole_with_the_values_a_row_read_gives():
    ds = datasets.Dataset.from_dict(
        {"label": ["b", None, "a", "1", "2"], "score": [0.5, None, 2.0, 3.25, -1.0]}
    ).select([4, 3, 2, 1, 0])
    for name in ("label", "score"):
        assert column_values(ds, name) == [row[name] for row in ds]
    card = SimpleNamespace(
        name="t",
        file_columns=["x"],
        label="y",
        has_classes=False,
        input_joins={},
        input_columns=["x"],
    )
    regression = datasets.Dataset.from_dict({"y": ["1.5", "2", None], "x": [0, 1, 2]})
    with pytest.raises(Exception, match="row 2: label None is not a finite number"):
        validate_split(card, regression, "train", "here")


def test_a_cpu_training_ends_without_a_full_garbage_collection(monkeypatch):
    acc = make_accelerator()
    acc._models.append(object())
    acc.step = 5

    def collect(*args, **kwargs):
        raise AssertionError("gc.collect called")

    monkeypatch.setattr(gc, "collect", collect)
    release_prepared(acc)
    assert not acc._models and acc.step == 0


def test_a_card_parsed_once_is_read_afresh_when_edited_and_never_shared(tmp_path):
    from harness.cards import read_yaml

    card = tmp_path / "t.yaml"
    card.write_text("name: t\nlabel_names: [a, b]\n")
    first = read_yaml(card)
    first["label_names"].append("edited by a caller")
    assert read_yaml(card) == {"name": "t", "label_names": ["a", "b"]}  # the caller's copy
    card.write_text("name: t\nlabel_names: [a, c]\n")  # same size, edited in place
    assert read_yaml(card)["label_names"] == ["a", "c"]


def test_a_generator_runs_once_for_all_the_splits_of_a_task_load(tmp_path, monkeypatch):
    import sys

    from test_cards import base_card

    from harness.cards import card_from_dict
    from harness.data.loading import load_task

    (tmp_path / "counted_gen.py").write_text(
        "import datasets\nCALLS = []\n"
        "def make(n):\n"
        "    CALLS.append(n)\n"
        "    rows = lambda k: datasets.Dataset.from_dict("
        "{'text': [f'r{i}' for i in range(k)], 'label': [i % 2 for i in range(k)]})\n"
        "    return {'train': rows(n), 'test': rows(8)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    card = card_from_dict(
        base_card(
            "counted",
            inputs={"text": "text"},
            data={"generator": {"function": "counted_gen:make", "kwargs": {"n": 40}}},
        )
    )
    first = load_task(card)
    assert sys.modules["counted_gen"].CALLS == [40]  # train, held-out validation and test
    assert len(first.train) + len(first.validation) == 40 and len(first.test) == 8
    load_task(card)
    assert sys.modules["counted_gen"].CALLS == [40, 40]  # a new load calls it again
