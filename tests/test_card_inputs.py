"""What a card can say about real data in its original format: how labels are read (never by
the type pandas guessed), label maps and offsets, dropped rows, joined inputs, split slices and
re-splits, line and parallel formats, several data folders, and the floor (the best constant
predictor). Real datasets in their distributed formats are at the end (`realdata`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from test_cards import base_card, write_card, write_csv

from harness.analysis.floor import constant_baseline
from harness.cards import card_from_dict, load_card
from harness.data.loading import load_task
from harness.errors import CardErrors, ConfigError, DataError
from harness.taskregistry import TaskRegistry

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path, rows_train, rows_test, header="sentence,label", **card):
    data = tmp_path / "data"
    write_csv(data / "toy" / "train.csv", header, rows_train)
    write_csv(data / "toy" / "test.csv", header, rows_test)
    path = write_card(tmp_path / "cards", base_card(**card))
    return load_task(load_card(path), data), path


NUMBERED = [f"s{i},{1 + i % 4}" for i in range(12)]  # labels 1..4, read by pandas as integers


def test_numbers_that_are_names_are_read_as_names_not_positions(tmp_path):
    td, _ = _load(tmp_path, NUMBERED, NUMBERED[:4], label_names=["1", "2", "3", "4"])
    # the label 1 is the class named "1" (position 0), not position 1 (the class named "2")
    names = [td.card.label_names[i] for i in td.test["labels"]]
    assert names == ["1", "2", "3", "4"]


def test_a_number_that_is_not_a_name_with_numeric_names_is_an_error_naming_the_fix(tmp_path):
    rows = [*NUMBERED, "zero,0"]
    with pytest.raises(DataError) as info:
        _load(tmp_path, rows, NUMBERED[:4], label_names=["1", "2", "3", "4"])
    msg = str(info.value)
    assert "train.csv" in msg and "row 12: label 0" in msg
    assert "label_map" in msg and "label_offset" in msg


def test_label_offset_counts_positions_from_it(tmp_path):
    td, _ = _load(
        tmp_path,
        NUMBERED,
        NUMBERED[:4],
        label_names=["World", "Sports", "Business", "Tech"],
        label_offset=1,
    )
    assert [td.card.label_names[i] for i in td.test["labels"]] == [
        "World",
        "Sports",
        "Business",
        "Tech",
    ]


def test_labels_from_one_with_dropped_unknowns_are_an_error_not_a_shifted_score(tmp_path):
    """Labels 1..K, no label_offset, drop_unknown_labels: class K's rows were dropped as out of
    range, every other class shifted by one, and the task scored 0.81 on wrong labels."""
    with pytest.raises(DataError) as info:
        _load(
            tmp_path,
            NUMBERED,
            NUMBERED[:3],
            label_names=["World", "Sports", "Business", "Tech"],
            drop_unknown_labels=True,
        )
    msg = str(info.value)
    assert "['World']" in msg and "no training row" in msg and "label_offset: 1" in msg


def test_a_label_error_lists_every_bad_value_with_its_count_at_once(tmp_path):
    rows = [f"s{i},pos" for i in range(4)] + ["a,neg", "b,POS", "c,POS", "d,?", "e,POS"]
    with pytest.raises(DataError) as info:
        _load(tmp_path, rows, ["t,pos", "u,neg"], label_names=["neg", "pos"])
    msg = str(info.value)
    assert "2 distinct label value(s)" in msg and "row 5: label 'POS'" in msg and "[3 rows]" in msg
    assert "row 7: label '?'" in msg


def test_a_class_without_training_rows_is_an_error(tmp_path):
    one_class = [f"s{i},pos" for i in range(12)]  # 6 rows a class would hold both
    with pytest.raises(DataError, match=r"\['neg'\] have no training row"):
        _load(tmp_path, one_class, ["t,pos", "u,neg"], label_names=["neg", "pos"])


def test_positions_from_one_without_an_offset_fail_at_the_top_value_with_the_fix(tmp_path):
    with pytest.raises(
        DataError, match=r"row 3: label 4 .*outside the positions 0..3.*label_offset: 1"
    ):
        _load(tmp_path, NUMBERED, NUMBERED[:4], label_names=["World", "Sports", "Business", "Tech"])


def test_float_labels_from_a_column_with_a_gap_are_matched_by_name():
    from harness.data.loading import label_positions

    card = card_from_dict(
        base_card(label_names=["1", "2"], drop_unknown_labels=True), Path("c.yaml")
    )
    # pandas reads a numeric column with a gap as floats: 1.0, NaN, 2.0
    positions, kept, dropped = label_positions(card, [1.0, float("nan"), 2.0], "toy")
    assert positions == [0, 1] and kept == [0, 2] and dropped == {"nan": 1}


def test_an_empty_label_is_dropped_and_counted(tmp_path):
    td, _ = _load(
        tmp_path,
        ["a,1", "b,", "c,2", "d,1"],
        ["x,1", "y,2"],
        label_names=["1", "2"],
        drop_unknown_labels=True,
        splits={"train": "train", "validation": "test", "test": "test"},
    )
    assert td.train["labels"] == [0, 1, 0] and td.dropped == {"train": {"": 1}}


def test_label_map_and_dropped_rows_are_counted(tmp_path):
    rows = ["a,p", "b,n", "c,-", "d,p", "e,-"]
    td, _ = _load(
        tmp_path,
        rows,
        ["x,p", "y,n"],
        label_map={"p": "pos", "n": "neg"},
        drop_unknown_labels=True,
        splits={"train": "train", "validation": "test", "test": "test"},
    )
    assert td.train["labels"] == [1, 0, 1]  # neg=0, pos=1
    assert td.dropped == {"train": {"-": 2}}
    with pytest.raises(
        DataError, match=r"row 2: label '-' is not in the label set .*not a key of label_map"
    ):
        _load(tmp_path, rows, ["x,p"], label_map={"p": "pos", "n": "neg"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label_map": {"p": "positive"}}, "maps to 'positive', which is not one of label_names"),
        ({"label_offset": "one"}, "label_offset': must be a whole number"),
        (
            {"label_map": {"p": "pos"}, "label_offset": 1},
            "give label_map or label_offset, not both",
        ),
        ({"drop_unknown_labels": "yes"}, "drop_unknown_labels': must be true or false"),
        ({"inputs": {"text": []}}, "inputs.text': must be a column name or a list"),
        ({"splits": {"train": "train", "test": "test[:80"}}, "splits.test': cannot read split"),
        ({"splits": {"train": "train", "test": "test[:180%]"}}, "between 0% and 100%"),
        ({"resplit": {"from": "all", "train": 0.8, "test": 0.1}}, "must add up to 1"),
        ({"resplit": {"from": "all", "train": 0.8}}, "resplit.test': missing"),
        (
            {"resplit": {"from": "all", "train": 1.5, "test": 0.5}},
            "must be a fraction between 0 and 1",
        ),
        ({"resplit": {"from": "all", "train": 0.5, "test": 0.5, "sed": 1}}, "Did you mean 'seed'"),
        ({"resplit": {"train": 0.5, "test": 0.5}}, "must be a mapping with 'from'"),
    ],
)
def test_bad_label_and_split_fields_name_the_field(change, message):
    data = base_card(**change)
    if "resplit" in change:
        data.pop("splits")
    with pytest.raises(CardErrors) as info:
        card_from_dict(data, Path("cards/toy.yaml"))
    assert any(message in p for p in info.value.problems), info.value.problems


def test_resplit_with_splits_too_is_an_error():
    with pytest.raises(CardErrors, match="give 'splits' or 'resplit', not both"):
        card_from_dict(
            base_card(resplit={"from": "train", "train": 0.5, "test": 0.5}), Path("c.yaml")
        )


def test_joined_inputs_are_one_column(tmp_path):
    header = "title,body,label"
    td, _ = _load(
        tmp_path,
        ["T1,B1,pos", "T2,,neg"],
        ["T3,B3,pos"],
        header=header,
        inputs={"text": ["title", "body"]},
        input_separator=" | ",
        splits={"train": "train", "validation": "test", "test": "test"},
    )
    assert td.train.column_names == ["labels", "title+body"]
    assert td.train["title+body"] == ["T1 | B1", "T2"] and td.test["title+body"] == ["T3 | B3"]


def test_split_slices_select_rows(tmp_path):
    rows = [f"s{i},{'pos' if i % 2 else 'neg'}" for i in range(10)]
    td, _ = _load(
        tmp_path,
        rows,
        rows,
        splits={"train": "train", "validation": "test[:30%]", "test": "test[30%:]"},
    )
    assert len(td.validation) == 3 and len(td.test) == 7 and len(td.train) == 10
    assert td.validation["sentence"] == ["s0", "s1", "s2"] and td.test["sentence"][0] == "s3"


def test_resplit_is_seeded_stratified_disjoint_and_complete(tmp_path):
    rows = [f"s{i},{'pos' if i % 4 == 0 else 'neg'}" for i in range(100)]  # 25 pos, 75 neg
    card = base_card(
        resplit={"from": "train", "train": 0.6, "validation": 0.2, "test": 0.2, "seed": 3}
    )
    card.pop("splits")
    data = tmp_path / "data"
    write_csv(data / "toy" / "train.csv", "sentence,label", rows)
    loaded = load_task(load_card(write_card(tmp_path / "cards", card)), data)
    parts = {r: list(loaded.split(r)["sentence"]) for r in ("train", "validation", "test")}
    assert sorted(sum(parts.values(), [])) == sorted(
        f"s{i}" for i in range(100)
    )  # disjoint, complete
    assert {r: len(v) for r, v in parts.items()} == {"train": 60, "validation": 20, "test": 20}
    assert Counter(loaded.test["labels"]) == {0: 15, 1: 5}  # the 3:1 balance in every part
    again = load_task(load_card(write_card(tmp_path / "cards", card)), data)
    assert again.test["sentence"] == loaded.test["sentence"]  # seeded
    card["resplit"]["seed"] = 4
    other = load_task(load_card(write_card(tmp_path / "cards", card)), data)
    assert other.test["sentence"] != loaded.test["sentence"]


def _lines_card(tmp_path, layout_options, text, **card):
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True, exist_ok=True)
    (data / "toy" / "train.txt").write_text(text)
    (data / "toy" / "test.txt").write_text(text)
    c = base_card(**card)
    c["data"] = {
        "local": [
            {
                "format": "lines",
                "path": "toy",
                "files": {"train": "train.txt", "test": "test.txt"},
                "options": layout_options,
            }
        ]
    }
    return load_task(load_card(write_card(tmp_path / "cards", c)), data)


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({}, "pos\ta fine film\nneg\ta dull one\n\n"),
        ({"sep": " "}, "pos a fine film\nneg a dull one\n"),
        ({"layout": "fasttext"}, "__label__pos a fine film\n__label__neg __label__x a dull one\n"),
        ({"regex": r"^(?P<text>.*) => (?P<label>\w+)$"}, "a fine film => pos\na dull one => neg\n"),
    ],
)
def test_line_layouts(tmp_path, options, text):
    td = _lines_card(tmp_path, options, text, inputs={"text": "text"})
    assert td.test["text"] == ["a fine film", "a dull one"] and td.test["labels"] == [1, 0]


def test_coarse_fine_lines_give_both_labels(tmp_path):
    text = "DESC:manner How did it go ?\nHUM:ind Who was he ?\n"
    td = _lines_card(
        tmp_path,
        {"layout": "coarse_fine"},
        text,
        inputs={"text": "text"},
        label_names=["DESC", "HUM"],
    )
    assert td.test["labels"] == [0, 1] and td.test["text"] == ["How did it go ?", "Who was he ?"]
    fine = _lines_card(
        tmp_path,
        {"layout": "coarse_fine"},
        text,
        inputs={"text": "text"},
        label="fine_label",
        label_names=["DESC:manner", "HUM:ind"],
    )
    assert fine.test["labels"] == [0, 1]


def test_a_line_that_does_not_match_names_file_and_line(tmp_path):
    with pytest.raises(
        DataError, match=r"train.txt: line 2: does not match the 'coarse_fine' layout"
    ):
        _lines_card(
            tmp_path,
            {"layout": "coarse_fine"},
            "DESC:m ok ?\nno colon here\n",
            inputs={"text": "text"},
            label_names=["DESC", "HUM"],
        )


def test_unknown_layout_and_option_are_card_errors(tmp_path):
    with pytest.raises(ConfigError, match="options.layout must be one of"):
        _lines_card(tmp_path, {"layout": "csv"}, "pos\tx\n", inputs={"text": "text"})
    c = base_card()
    c["data"]["local"][0]["options"] = {"seperator": ";"}
    with pytest.raises(CardErrors, match=r"options.seperator': format csv has no such option"):
        card_from_dict(c, Path("c.yaml"))


def _parallel(tmp_path, labels: str):
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True, exist_ok=True)
    (data / "toy" / "s1.dev").write_text("a man sleeps\na dog runs\nit rains\nhe cooks\n")
    (data / "toy" / "s2.dev").write_text("a person rests\na cat sits\nit is dry\nhe eats\n")
    (data / "toy" / "labels.dev").write_text(labels)
    c = base_card(
        inputs={"text": "premise", "text_pair": "hypothesis"},
        label_names=["entailment", "neutral", "contradiction"],
        drop_unknown_labels=True,
        splits={"train": "dev", "test": "dev"},
    )
    files = {"premise": "s1.dev", "hypothesis": "s2.dev", "label": "labels.dev"}
    c["data"] = {"local": [{"format": "parallel", "path": "toy", "files": {"dev": files}}]}
    return load_task(load_card(write_card(tmp_path / "cards", c)), data)


def test_parallel_files_are_joined_as_columns_and_no_gold_rows_dropped(tmp_path):
    td = _parallel(tmp_path, "entailment\n-\ncontradiction\nneutral\n")
    assert td.test["premise"] == ["a man sleeps", "it rains", "he cooks"] and td.test["labels"] == [
        0,
        2,
        1,
    ]
    assert td.dropped == {"dev": {"-": 1}}


def test_parallel_files_of_different_lengths_are_an_error(tmp_path):
    with pytest.raises(DataError, match=r"different numbers of lines: .*labels.dev \(label\)': 2"):
        _parallel(tmp_path, "entailment\nneutral\n")


def test_several_data_folders_are_searched_in_order(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    write_csv(second / "toy" / "train.csv", "sentence,label", ["a,pos", "b,neg"])
    write_csv(second / "toy" / "test.csv", "sentence,label", ["c,pos"])
    first.mkdir()
    card = load_card(write_card(tmp_path / "cards", base_card()))
    monkeypatch.setenv("TRANSFERBENCH_DATA_DIR", f"{first}{os.pathsep}{second}")
    assert load_task(card).test["sentence"] == ["c"]
    write_csv(first / "toy" / "train.csv", "sentence,label", ["d,pos", "e,neg"])
    write_csv(first / "toy" / "test.csv", "sentence,label", ["f,neg"])
    assert load_task(card).test["sentence"] == ["f"]  # the first folder wins


# --- the floor -----------------------------------------------------------------------------------


def test_constant_baseline_by_hand():
    reg = TaskRegistry()
    mrpc = constant_baseline(reg.get("mrpc"), [0, 1, 1, 1])  # f1 primary
    # always "equivalent": accuracy 3/4; f1 = 2PR/(P+R) with P = 3/4, R = 1 -> 6/7
    assert mrpc["predict"] == "equivalent" and mrpc["metrics"]["accuracy"] == pytest.approx(0.75)
    assert mrpc["primary"] == pytest.approx(6 / 7)
    stsb = constant_baseline(reg.get("stsb"), [0.0, 1.0, 2.0, 5.0])
    assert (
        stsb["predict"] == 2.0 and stsb["metrics"]["pearson"] != stsb["metrics"]["pearson"]
    )  # NaN
    binary = constant_baseline(reg.get("synth_text_near"), [1, 1, 0])
    assert binary["predict"] == reg.get("synth_text_near").label_names[1]
    assert binary["metrics"]["accuracy"] == pytest.approx(2 / 3)


# --- real public datasets, in their distributed formats ------------------------------------------

REAL = ["trec", "cb", "ag_news_test_resplit", "snli_dev_test"]


@pytest.mark.realdata
def test_real_datasets_load_with_their_label_counts(real_data_dir):
    reg = TaskRegistry()
    trec = load_task(reg.get("trec"), real_data_dir)
    assert len(trec.train) + len(trec.validation) == 5452 and len(trec.test) == 500
    assert Counter(trec.test["labels"])[1] == 138  # DESC, the majority class of the test set
    ag = load_task(reg.get("ag_news_test_resplit"), real_data_dir)
    assert len(ag.train) + len(ag.validation) + len(ag.test) == 7600
    assert set(Counter(ag.test["labels"]).values()) == {
        380
    }  # 1,900 per class in test.csv, 20 % each
    assert ag.test.column_names == ["labels", "title+description"]
    snli = load_task(reg.get("snli_dev_test"), real_data_dir)
    assert len(snli.train) + len(snli.validation) == 9842 and len(snli.test) == 9824
    cb = load_task(reg.get("cb"), real_data_dir)
    assert Counter(cb.test["labels"]) == {1: 28, 0: 23, 2: 5}


@pytest.mark.realdata
def test_real_datasets_train_with_every_method(real_data_dir, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: real-cards\n"
        "backbones: [{name: bert-tiny, max_length: 48, vocab_size: 2000}]\n"
        f"targets: [{', '.join(REAL)}]\n"
        "sources: [none, trec]\n"
        f"task_set: [{', '.join(REAL)}]\n"
        "methods: {scratch: {}, feature_extraction: {}, finetune: {}, mtdnn: {}, distill: {teachers: 1}}\n"
        "seeds: [0]\n"
        "budget: {num_train_epochs: 1, per_device_train_batch_size: 16}\n"
        "source_budget: {num_train_epochs: 1, per_device_train_batch_size: 16}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--config",
            suite,
            "--data_dir",
            real_data_dir,
            "--limit",
            "48",
            "--output_dir",
            tmp_path / "out",
            "--cache_dir",
            tmp_path / "c",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "0 failed" in proc.stdout and "| majority " in proc.stdout
    import json

    records = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*.json")]
    assert {(r["spec"]["method"], r["spec"]["target"]) for r in records} == {
        (m, t)
        for m in ("scratch", "feature_extraction", "finetune", "mtdnn", "distill")
        for t in REAL
    }
    assert all(r["status"] == "ok" for r in records)


CLASS_LABEL_GEN = """
import datasets

def make():
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    rows = {"sentence": ["awful", "great", "bad", "fine"], "label": [0, 1, 0, 1]}
    ds = datasets.Dataset.from_dict(rows, features=features)
    return {"train": ds, "test": ds}
"""


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["pos", "neg"], None),
        (["neg", "pos"], None),
        (["negative", "positive"], "the data names its classes"),
    ],
)
def test_classes_the_data_names_are_mapped_by_name(names, expected, tmp_path):
    """A `datasets` ClassLabel (neg, pos) under a card listing [pos, neg] swapped every label."""
    import yaml
    from test_cards import base_card

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "gen.py").write_text(CLASS_LABEL_GEN)
    card = base_card(name="named", label_names=names)
    card["data"] = {"generator": {"function": "gen.py:make"}}
    (cards / "named.yaml").write_text(yaml.safe_dump(card))
    if expected:
        with pytest.raises(DataError, match=expected) as info:
            load_task(load_card(cards / "named.yaml"))
        assert "['neg', 'pos']" in str(info.value) and str(names) in str(info.value)
        return
    td = load_task(load_card(cards / "named.yaml"))
    by_sentence = dict(
        zip(td.test["sentence"], (td.card.label_names[i] for i in td.test["labels"]))
    )
    assert by_sentence == {"awful": "neg", "great": "pos", "bad": "neg", "fine": "pos"}


def test_csv_names_without_a_header_option_keep_the_first_row(tmp_path):
    """`names:` without `header: null` took the first data row as the header and dropped it
    (pandas keeps it when `names` is given)."""
    data = tmp_path / "data"
    write_csv(
        data / "toy" / "train.csv", "first,pos", ["second,neg", "third,pos"]
    )  # no header line
    write_csv(data / "toy" / "test.csv", "t1,pos", ["t2,neg"])
    card = base_card()
    card["data"]["local"][0]["options"] = {"names": ["sentence", "label"]}
    td = load_task(load_card(write_card(tmp_path / "cards", card)), data)
    assert (
        td.train["sentence"][:1] == ["first"]
        or "first" in td.train["sentence"] + td.validation["sentence"]
    )
    assert len(td.train) + len(td.validation) == 3 and len(td.test) == 2
    card["data"]["local"][0]["options"] = {
        "names": ["sentence", "label"],
        "header": 0,
    }  # a header replaced
    td = load_task(load_card(write_card(tmp_path / "cards2", card)), data)
    assert len(td.test) == 1
