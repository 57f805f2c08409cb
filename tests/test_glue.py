"""GLUE task cards and the `glue_tsv` reader: offline on hand-written fixtures, and on the
real `glue_data` folder (tests marked `realdata`, skipped without $TRANSFERBENCH_DATA_DIR)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import logging  # noqa: E402
import math  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from harness.cards import card_from_dict, load_card  # noqa: E402
from harness.data.glue_tsv import read_glue_tsv, read_table, split_options  # noqa: E402
from harness.data.loading import load_raw_split, load_task, validate_split  # noqa: E402
from harness.errors import ConfigError, DataError  # noqa: E402
from harness.taskregistry import TaskRegistry, builtin_tasks_dir  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
GLUE_DIR = builtin_tasks_dir() / "glue"
GLUE_TASKS = TaskRegistry().names("glue")
HUB_REVISION = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"

# rows in each hand-written fixture file (every line but the header, where there is one)
FIXTURE_ROWS = {
    "CoLA": {"train.tsv": 6, "dev.tsv": 3, "test.tsv": 3},
    "SST-2": {"train.tsv": 6, "dev.tsv": 3, "test.tsv": 3},
    "MRPC": {"train.tsv": 5, "dev.tsv": 3, "test.tsv": 3},
    "STS-B": {"train.tsv": 5, "dev.tsv": 4, "test.tsv": 3},
    "QQP": {"train.tsv": 5, "dev.tsv": 3, "test.tsv": 3},
    "MNLI": {
        "train.tsv": 6,
        "dev_matched.tsv": 4,
        "dev_mismatched.tsv": 3,
        "test_matched.tsv": 2,
        "test_mismatched.tsv": 3,
    },
    "QNLI": {"train.tsv": 5, "dev.tsv": 3, "test.tsv": 3},
    "RTE": {"train.tsv": 6, "dev.tsv": 3, "test.tsv": 3},
    "WNLI": {"train.tsv": 5, "dev.tsv": 3, "test.tsv": 3},
}

# the real glue_data folder: rows per split (by the card's split names)
REAL_ROWS = {
    "cola": {"train": 8551, "validation": 1043, "test": 1063},
    "sst2": {"train": 67349, "validation": 872, "test": 1821},
    "mrpc": {"train": 3668, "validation": 408, "test": 1725},
    "stsb": {"train": 5749, "validation": 1500, "test": 1379},
    "rte": {"train": 2490, "validation": 277, "test": 3000},
    "wnli": {"train": 635, "validation": 71, "test": 146},
    "qnli": {"validation": 5463, "test": 5463},  # no train.tsv in the shared folder
}


def _local(card):
    (spec,) = card.data["local"]
    return spec


def _card(name: str):
    return TaskRegistry().get(name)


# ---------------------------------------------------------------- the cards themselves


def test_every_glue_task_has_a_card():
    expected = {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "mnli_mismatched", "qnli", "rte"}
    assert expected | {"wnli"} <= set(GLUE_TASKS)


@pytest.mark.parametrize("name", GLUE_TASKS)
def test_card_sources_agree(name):
    """Hub source pinned; local files keyed by the Hub's split names; scored on dev."""
    card = _card(name)
    hub = card.data["hub"]
    assert hub["path"] == "nyu-mll/glue" and hub["revision"] == HUB_REVISION
    spec = _local(card)
    assert spec["format"] == "glue_tsv" and spec["path"].startswith("glue_data/")
    for role in ("train", "test"):
        assert card.splits[role] in spec["files"], role
    assert card.splits["train"] == "train"
    assert card.splits["test"].startswith("validation")
    assert {"glue", "text"} <= set(card.tags)
    assert ("pair" in card.tags) == card.is_pair and ("single" in card.tags) != card.is_pair


def test_mnli_mismatched_only_changes_the_scored_split():
    matched, mismatched = _card("mnli"), _card("mnli_mismatched")
    assert matched.splits == {"train": "train", "validation": None, "test": "validation_matched"}
    assert mismatched.splits["test"] == "validation_mismatched"
    assert mismatched.data == matched.data
    assert (
        mismatched.label_names
        == matched.label_names
        == (
            "entailment",
            "neutral",
            "contradiction",
        )
    )
    assert mismatched.content_hash != matched.content_hash


# ---------------------------------------------------------------- offline, on the fixtures


@pytest.mark.parametrize("name", GLUE_TASKS)
def test_task_loads_from_fixture_folder(name):
    card = _card(name)
    data = load_task(card, FIXTURES, "local")
    assert data.source == "local"
    for role in ("train", "validation", "test"):
        ds = data.split(role)
        assert len(ds) > 0, role
        assert ds.column_names == [*card.inputs.values(), "labels"], role
        for col in card.inputs.values():
            assert all(isinstance(t, str) and t.strip() for t in ds[col]), (role, col)
        labels = ds["labels"]
        if card.problem == "classification":
            assert all(isinstance(x, int) and 0 <= x < card.num_labels for x in labels)
        else:
            assert all(math.isfinite(x) and 0.0 <= x <= 5.0 for x in labels)


@pytest.mark.parametrize("name", GLUE_TASKS)
def test_fixture_rows_are_neither_dropped_nor_merged(name):
    card = _card(name)
    spec = _local(card)
    expected = FIXTURE_ROWS[Path(spec["path"]).name]
    for split, file in spec["files"].items():
        ds, source, _ = load_raw_split(card, split, FIXTURES, "local")
        assert source == "local"
        assert len(ds) == expected[file], (split, file)
        assert set(card.inputs.values()) <= set(ds.column_names)
        if file.startswith("test"):  # GLUE test files carry no labels
            assert card.label not in ds.column_names
        else:
            assert card.label in ds.column_names


def test_quoted_sentences_survive_intact():
    card = _card("mrpc")
    train, _, _ = load_raw_split(card, "train", FIXTURES, "local")
    assert train[0]["sentence1"] == (
        'Amrozi accused his brother, whom he called "the witness", of deliberately '
        "distorting his evidence."
    )
    dev, _, _ = load_raw_split(card, "validation", FIXTURES, "local")
    # an unbalanced quote must not swallow the following lines
    assert dev[0]["sentence2"] == (
        '"The foodservice pie business does not fit our long-term growth strategy.'
    )
    assert dev[1]["sentence1"].startswith("Magnarelli said")
    assert len(dev) == 3
    sst2, _, _ = load_raw_split(_card("sst2"), "train", FIXTURES, "local")
    assert sst2[5]["sentence"] == 'a " funny " movie that is anything but '


def test_mrpc_byte_order_mark_is_dropped():
    path = FIXTURES / "glue_data" / "MRPC" / "train.tsv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    names, rows = read_table(path, {"header": True})
    assert names == ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    card = _card("mrpc")
    data = load_task(card, FIXTURES, "local", roles=("test",))
    assert data.test["labels"] == [1, 0, 0]  # dev.tsv Quality column


def test_cola_train_without_header_keeps_its_first_row():
    card = _card("cola")
    train, _, _ = load_raw_split(card, "train", FIXTURES, "local")
    assert train.column_names == ["sentence", "label"]
    assert train[0] == {
        "sentence": "Our friends won't buy this analysis, let alone the next one we propose.",
        "label": "1",
    }
    assert train[2]["sentence"] == 'The sailors said "ahoy" to the rocks.'
    dev, _, _ = load_raw_split(card, "validation", FIXTURES, "local")  # no final newline
    assert dev[-1]["sentence"] == "The mechanical doll wriggled itself loose."
    test, _, _ = load_raw_split(card, "test", FIXTURES, "local")  # has a header
    assert test.column_names == ["sentence"]
    assert test[0]["sentence"] == "Bill whistled past the house."


def test_string_and_numeric_labels_map_to_the_hub_label_order():
    rte = load_task(_card("rte"), FIXTURES, "local", roles=("test",))
    assert rte.test["labels"] == [1, 0, 0]  # not_entailment, entailment, entailment
    wnli = load_task(_card("wnli"), FIXTURES, "local", roles=("test",))
    assert wnli.test["labels"] == [0, 1, 0]  # 0 = not_entailment
    mnli = load_task(_card("mnli"), FIXTURES, "local", roles=("test",))
    assert mnli.test["labels"] == [1, 2, 1, 2]  # gold_label: neutral, contradiction, ...
    assert mnli.test["premise"][0] == "The new rights are nice enough"
    mism = load_task(_card("mnli_mismatched"), FIXTURES, "local", roles=("test",))
    assert mism.test["labels"] == [2, 2, 0]
    stsb = load_task(_card("stsb"), FIXTURES, "local", roles=("test",))
    assert stsb.test["labels"] == pytest.approx([5.0, 4.75, 5.0, 2.4])
    qqp = load_task(_card("qqp"), FIXTURES, "local", roles=("test",))
    assert qqp.test["labels"] == [0, 0, 1]


# ---------------------------------------------------------------- the reader's options


def _tsv(tmp_path: Path, text: str, name: str = "train.tsv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _pair_card(tmp_path: Path, options: dict, files: dict | None = None):
    return card_from_dict(
        {
            "name": "tiny",
            "version": 1,
            "modality": "text",
            "problem": "classification",
            "inputs": {"text": "a", "text_pair": "b"},
            "label": "label",
            "label_names": ["no", "yes"],
            "splits": {"train": "train", "test": "validation"},
            "metrics": ["accuracy"],
            "primary_metric": "accuracy",
            "direction": "max",
            "data": {
                "local": {
                    "format": "glue_tsv",
                    "path": ".",
                    "files": files or {"train": "train.tsv", "validation": "dev.tsv"},
                    "options": options,
                }
            },
        },
        tmp_path / "tiny.yaml",
    )


def test_a_line_with_the_wrong_number_of_fields_is_an_error(tmp_path):
    _tsv(tmp_path, 'a\tb\tlabel\nx\ty\tyes\n"broken\tno\nz\tw\tno\n')
    card = _pair_card(tmp_path, {})
    with pytest.raises(DataError, match=r"train\.tsv: line 3: 2 tab-separated field\(s\)"):
        load_raw_split(card, "train", tmp_path, "local")


def test_bad_lines_warn_skips_and_reports_them(tmp_path, caplog):
    _tsv(tmp_path, "a\tb\tlabel\nx\ty\tyes\nbroken\nz\tw\tno\textra\nu\tv\tno\n")
    card = _pair_card(tmp_path, {"bad_lines": "warn"})
    with caplog.at_level(logging.WARNING, logger="harness.data.glue_tsv"):
        ds, _, _ = load_raw_split(card, "train", tmp_path, "local")
    assert ds["a"] == ["x", "u"]
    assert "skipped 2 line(s)" in caplog.text and "3 (1 fields), 4 (4 fields)" in caplog.text


def test_split_options_override_per_split(tmp_path):
    _tsv(tmp_path, "x\ty\tyes\nz\tw\tno\n", "train.tsv")
    _tsv(tmp_path, "label\ta\tb\nyes\tp\tq\n", "dev.tsv")
    options = {
        "header": False,
        "names": ["a", "b", "label"],
        "split_options": {"validation": {"header": True, "names": None}},
    }
    card = _pair_card(tmp_path, options)
    train, _, _ = load_raw_split(card, "train", tmp_path, "local")
    dev, _, _ = load_raw_split(card, "validation", tmp_path, "local")
    assert train.to_dict() == {"a": ["x", "z"], "b": ["y", "w"], "label": ["yes", "no"]}
    assert dev.to_dict() == {"label": ["yes"], "a": ["p"], "b": ["q"]}
    spec = _local(card)
    assert split_options(spec, [tmp_path / "dev.tsv"], card)["header"] is True
    assert split_options(spec, [tmp_path / "dev.tsv"], card, split="train")["header"] is False


def test_same_file_for_two_splits_with_different_options_is_an_error(tmp_path):
    _tsv(tmp_path, "a\tb\tlabel\nx\ty\tyes\n")
    files = {"train": "train.tsv", "validation": "train.tsv"}
    card = _pair_card(tmp_path, {"split_options": {"validation": {"header": False}}}, files)
    with pytest.raises(ConfigError, match="list the same file"):
        load_raw_split(card, "train", tmp_path, "local")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"heder": True}, r"options\.heder': unknown option\. Did you mean 'header'"),
        ({"header": "yes"}, r"options\.header': must be true or false"),
        ({"bad_lines": "skip"}, r"options\.bad_lines': must be one of error, warn"),
        ({"split_options": {"dev": {"header": True}}}, r"no file is listed for split 'dev'"),
        ({"split_options": {"train": {"columns": None, "split_options": {}}}}, "unknown option"),
    ],
)
def test_bad_options_are_reported_with_card_and_field(tmp_path, options, message):
    _tsv(tmp_path, "a\tb\tlabel\nx\ty\tyes\n")
    card = _pair_card(tmp_path, options)
    with pytest.raises(ConfigError, match=message) as info:
        load_raw_split(card, "train", tmp_path, "local")
    assert "tiny.yaml: field 'data.local[0].options" in str(info.value)


def test_missing_input_column_is_an_error_but_a_missing_label_is_not(tmp_path):
    _tsv(tmp_path, "a\tlabel\nx\tyes\n")
    card = _pair_card(tmp_path, {"columns": {"a": "a", "b": "b", "label": "label"}})
    with pytest.raises(DataError, match=r"column\(s\) \['b'\] not found"):
        load_raw_split(card, "train", tmp_path, "local")
    _tsv(tmp_path, "index\ta\tb\n0\tx\ty\n", "dev.tsv")
    dev, _, _ = load_raw_split(card, "validation", tmp_path, "local")
    assert dev.column_names == ["a", "b"]


def test_crlf_lines_and_headerless_file_without_names(tmp_path):
    path = _tsv(tmp_path, 'a\tb\tlabel\r\nsay "hi\tthere\tyes\r\n')
    assert read_table(path, {}) == (["a", "b", "label"], [['say "hi', "there", "yes"]])
    with pytest.raises(DataError, match="needs options.names"):
        read_table(path, {"header": False})


def test_reader_concatenates_several_files(tmp_path):
    _tsv(tmp_path, "a\tb\tlabel\nx\ty\tyes\n", "part1.tsv")
    _tsv(tmp_path, "a\tb\tlabel\nz\tw\tno\n", "part2.tsv")
    card = _pair_card(tmp_path, {}, {"train": ["part1.tsv", "part2.tsv"], "validation": "x"})
    ds = read_glue_tsv([tmp_path / "part1.tsv", tmp_path / "part2.tsv"], _local(card), card)
    assert ds["a"] == ["x", "z"]


def test_card_files_in_the_package_are_the_registry_cards():
    for path in sorted(GLUE_DIR.glob("*.yaml")):
        assert load_card(path).name in GLUE_TASKS


# ---------------------------------------------------------------- the real glue_data folder


@pytest.fixture(scope="module")
def real_dir() -> Path:
    value = os.environ.get("TRANSFERBENCH_DATA_DIR")
    if not value:
        pytest.skip("TRANSFERBENCH_DATA_DIR is not set")
    path = Path(value).expanduser()
    if not (path / "glue_data").is_dir():
        pytest.skip(f"{path} has no glue_data folder")
    return path


def _real_folder(card, data_dir: Path) -> Path:
    folder = data_dir / _local(card)["path"]
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return folder


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(REAL_ROWS))
def test_real_row_counts(name, real_dir):
    card = _card(name)
    folder = _real_folder(card, real_dir)
    spec = _local(card)
    counts = {}
    for split in REAL_ROWS[name]:
        ds, source, _ = load_raw_split(card, split, real_dir, "local")
        assert source == "local"
        counts[split] = len(ds)
        if split != "test":  # test files have no labels
            validate_split(card, ds, split, str(folder))
    assert counts == REAL_ROWS[name]
    if name == "qnli":
        assert not (folder / spec["files"]["train"]).exists()


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(n for n in REAL_ROWS if "train" in REAL_ROWS[n]))
def test_real_task_roles(name, real_dir):
    """load_task: train minus the held-out validation, and the dev set as the scored split."""
    card = _card(name)
    _real_folder(card, real_dir)
    data = load_task(card, real_dir, "local")
    rows = REAL_ROWS[name]
    assert len(data.train) + len(data.validation) == rows["train"]
    assert len(data.validation) == round(rows["train"] * card.validation_fraction)
    assert len(data.test) == rows["validation"]
    for role in ("train", "validation", "test"):
        assert data.split(role).column_names == [*card.inputs.values(), "labels"]


# label counts of the real files, in the Hub's label order
REAL_LABELS = {
    ("cola", "train"): [2528, 6023],
    ("cola", "validation"): [322, 721],
    ("sst2", "train"): [29780, 37569],
    ("sst2", "validation"): [428, 444],
    ("mrpc", "train"): [1194, 2474],
    ("mrpc", "validation"): [129, 279],
    ("rte", "train"): [1249, 1241],
    ("rte", "validation"): [146, 131],
    ("wnli", "train"): [323, 312],
    ("wnli", "validation"): [40, 31],
    ("qnli", "validation"): [2702, 2761],
}


@pytest.mark.realdata
@pytest.mark.parametrize("name, split", sorted(REAL_LABELS))
def test_real_label_counts(name, split, real_dir):
    card = _card(name)
    folder = _real_folder(card, real_dir)
    ds, _, _ = load_raw_split(card, split, real_dir, "local")
    labels = validate_split(card, ds, split, str(folder))["labels"]
    counts = Counter(labels)
    assert [counts[i] for i in range(card.num_labels)] == REAL_LABELS[(name, split)]


@pytest.mark.realdata
def test_real_stsb_scores_are_floats_in_range(real_dir):
    card = _card("stsb")
    folder = _real_folder(card, real_dir)
    for split in ("train", "validation"):
        ds, _, _ = load_raw_split(card, split, real_dir, "local")
        scores = validate_split(card, ds, split, str(folder))["labels"]
        assert all(0.0 <= s <= 5.0 for s in scores)
        assert min(scores) == 0.0 and max(scores) == 5.0
        assert len(set(scores)) > 50 and any(s != int(s) for s in scores)  # real-valued
    train, _, _ = load_raw_split(card, "train", real_dir, "local")
    assert train[0] == {
        "sentence1": "A plane is taking off.",
        "sentence2": "An air plane is taking off.",
        "label": "5.000",
    }


@pytest.mark.realdata
def test_real_quotes_and_byte_order_mark(real_dir):
    card = _card("mrpc")
    _real_folder(card, real_dir)
    train, _, _ = load_raw_split(card, "train", real_dir, "local")
    assert train[0]["sentence1"] == (
        'Amrozi accused his brother, whom he called "the witness", of deliberately '
        "distorting his evidence."
    )
    dev, _, _ = load_raw_split(card, "validation", real_dir, "local")
    assert dev[0]["sentence2"].startswith('"The foodservice pie business')
    cola = _card("cola")
    train, _, _ = load_raw_split(cola, "train", real_dir, "local")
    assert train[0]["sentence"].startswith("Our friends won't buy this analysis")
