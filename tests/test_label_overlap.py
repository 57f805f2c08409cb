"""The share of a target's labels a source has (#20's domain pairs), by hand, from real cards."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from harness.similarity.label_overlap import label_overlap, label_overlap_matrix
from harness.taskregistry import TaskRegistry


@pytest.fixture(scope="module")
def cards():
    return TaskRegistry()


@pytest.mark.parametrize(
    ("source", "target", "want"),
    [
        ("imdb", "sst2_sentence", 1.0),  # {negative, positive} both ways: a domain pair
        ("snli_dev_test", "cb", 1.0),  # the same three labels, in another order
        ("snli_dev_test", "rte", 0.5),  # entailment of {entailment, not_entailment}
        ("rte", "snli_dev_test", 1 / 3),  # entailment of three
        ("mnist_test_resplit", "digits", 1.0),
        ("imdb", "rte", 0.0),  # a task pair: no label in common
    ],
)
def test_label_overlap_by_hand(cards, source, target, want):
    assert label_overlap(cards.get(source), cards.get(target)) == pytest.approx(want)


def test_no_label_space_is_not_defined_and_names_are_compared_case_blind(cards):
    assert math.isnan(label_overlap(cards.get("stsb"), cards.get("rte")))  # regression
    assert math.isnan(label_overlap(cards.get("rte"), cards.get("stsb")))
    choice = SimpleNamespace(problem="multiple_choice", label_names=("a", "b"))
    assert math.isnan(label_overlap(choice, choice))  # a choice's name is not a class
    a = SimpleNamespace(
        problem="classification", modality="text", label_names=("Positive", " negative")
    )
    b = SimpleNamespace(
        problem="classification", modality="text", label_names=("positive", "neutral", "NEGATIVE")
    )
    assert label_overlap(a, b) == pytest.approx(2 / 3) and label_overlap(b, a) == 1.0
    digits_as_text = SimpleNamespace(
        problem="classification", modality="text", label_names=tuple("0123456789")
    )
    assert math.isnan(label_overlap(digits_as_text, cards.get("digits")))  # across modalities


def test_the_matrix_is_source_by_target_with_the_diagonal(cards):
    m = label_overlap_matrix(["imdb", "rte", "snli_dev_test"], cards)
    assert list(m.index) == list(m.columns) == ["imdb", "rte", "snli_dev_test"]
    assert m.index.name == "source" and m.columns.name == "target"
    assert all(m.loc[t, t] == 1.0 for t in m.index)  # a target as its own source (BnB)
    assert m.loc["snli_dev_test", "rte"] == 0.5 and m.loc["rte", "snli_dev_test"] == pytest.approx(
        1 / 3
    )
    assert m.loc["imdb", "rte"] == 0.0
