"""Data layouts users meet (issue #18): csv columns by position, JSON records under a field,
image folders nested deeper than one level, `save_to_disk` folders, generator arguments that
name the data folder, and a Hub that does not answer (an error in seconds, saying what to set)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
from test_cards import base_card, write_card, write_csv

from harness.cards import card_from_dict, load_card
from harness.data.loading import load_raw_split, load_task
from harness.data.vision_files import encode_png
from harness.errors import CardErrors, ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
ROWS = [
    f"{'nice fine' if i % 2 else 'awful poor'} {i},{'pos' if i % 2 else 'neg'}" for i in range(12)
]


def _card(tmp_path: Path, **local) -> Path:
    """A `toy` card whose one local entry is `local` (over a csv entry reading toy/*.csv)."""
    entry = {
        "format": "csv",
        "path": "toy",
        "files": {"train": "train.csv", "test": "test.csv"},
        **local,
    }
    return write_card(tmp_path / "cards", base_card(data={"local": [entry]}))


def _names(td, role: str = "test") -> list[str]:
    return [td.card.label_names[i] for i in td.split(role)["labels"]]


# --- 2. csv columns by position ---------------------------------------------------------------


def test_csv_columns_by_position_read_a_file_without_a_header(tmp_path):
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    (data / "toy" / "train.csv").write_text("\n".join(ROWS) + "\n")
    (data / "toy" / "test.csv").write_text("\n".join(ROWS[:4]) + "\n")
    # YAML `columns: {0: sentence, 1: label}` has integer keys
    card = load_card(_card(tmp_path, options={"columns": {0: "sentence", 1: "label"}}))
    td = load_task(card, data)
    assert len(td.test) == 4  # no first row taken as a header
    assert td.test["sentence"] == ["awful poor 0", "nice fine 1", "awful poor 2", "nice fine 3"]
    assert _names(td) == ["neg", "pos", "neg", "pos"]


def test_csv_positions_with_a_header_row_and_names_mixed(tmp_path):
    data = tmp_path / "data"
    write_csv(data / "toy" / "train.csv", "id,text,class", [f"{i},{r}" for i, r in enumerate(ROWS)])
    write_csv(
        data / "toy" / "test.csv", "id,text,class", [f"{i},{r}" for i, r in enumerate(ROWS[:3])]
    )
    options = {"header": 0, "columns": {1: "sentence", "class": "label"}}
    td = load_task(load_card(_card(tmp_path, options=options)), data)
    assert td.test["sentence"] == ["awful poor 0", "nice fine 1", "awful poor 2"]
    assert _names(td) == ["neg", "pos", "neg"]


def test_csv_position_outside_the_file_names_file_and_columns(tmp_path):
    data = tmp_path / "data"
    for split in ("train", "test"):
        (data / "toy").mkdir(parents=True, exist_ok=True)
        (data / "toy" / f"{split}.csv").write_text("\n".join(ROWS) + "\n")
    card = load_card(_card(tmp_path, options={"columns": {0: "sentence", 5: "label"}}))
    with pytest.raises(DataError, match=r"train.csv: options.columns: position\(s\) \[5\] outside"):
        load_task(card, data)


@pytest.mark.parametrize(
    ("fmt", "columns", "expected"),
    [
        ("json", {0: "sentence"}, "key 0 is a number: format json finds columns by name"),
        ("csv", {-1: "sentence"}, "position -1 is negative"),
        ("csv", {0: 1}, "must map file columns to card columns"),
    ],
)
def test_column_keys_a_format_cannot_use_are_card_errors_saying_what_to_write(
    fmt, columns, expected
):
    entry = {
        "format": fmt,
        "path": "toy",
        "files": {"train": "a", "test": "b"},
        "options": {"columns": columns},
    }
    with pytest.raises(CardErrors) as info:
        card_from_dict(base_card(data={"local": [entry]}), Path("cards/toy.yaml"))
    (problem,) = info.value.problems
    assert problem.startswith("cards/toy.yaml: field 'data.local[0].options.columns': ")
    assert expected in problem


# --- 7c. JSON records under a field -----------------------------------------------------------


def _json(tmp_path: Path, payload: dict) -> Path:
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        (data / "toy" / f"{split}.json").write_text(json.dumps(payload))
    return data


RECORDS = [{"q": f"question {i}", "answer": "pos" if i % 2 else "neg"} for i in range(10)]


@pytest.mark.parametrize(
    "records",
    [RECORDS, {"q": [r["q"] for r in RECORDS], "answer": [r["answer"] for r in RECORDS]}],
    ids=["records", "columns"],
)
def test_json_field_reads_the_records_under_it(tmp_path, records):
    data = _json(tmp_path, {"version": "1.1", "data": records})
    card = load_card(
        _card(
            tmp_path,
            format="json",
            files={"train": "train.json", "test": "test.json"},
            options={"field": "data", "columns": {"q": "sentence", "answer": "label"}},
        )
    )
    td = load_task(card, data)
    assert len(td.test) == 10 and td.test["sentence"][:2] == ["question 0", "question 1"]
    assert _names(td)[:2] == ["neg", "pos"]


def test_json_records_under_a_field_without_the_option_name_the_field(tmp_path):
    data = _json(tmp_path, {"version": "1.1", "data": RECORDS})
    card = load_card(
        _card(tmp_path, format="json", files={"train": "train.json", "test": "test.json"})
    )
    with pytest.raises(DataError) as info:
        load_task(card, data)
    assert "train.json" in str(info.value) and "set options.field: data" in str(info.value)


def test_json_field_that_is_not_there_lists_the_fields(tmp_path):
    data = _json(tmp_path, {"version": "1.1", "data": RECORDS})
    card = load_card(
        _card(
            tmp_path,
            format="json",
            files={"train": "train.json", "test": "test.json"},
            options={"field": "rows"},
        )
    )
    with pytest.raises(
        DataError, match=r"train.json: options.field: no field 'rows'.*\['version', 'data'\]"
    ):
        load_task(card, data)


def test_json_field_must_be_a_name():
    entry = {
        "format": "json",
        "path": "toy",
        "files": {"train": "a", "test": "b"},
        "options": {"field": 3},
    }
    with pytest.raises(
        CardErrors, match=r"options.field': must be the name of the top-level field"
    ):
        card_from_dict(base_card(data={"local": [entry]}), Path("cards/toy.yaml"))


# --- 7a. image folders nested deeper than one level ------------------------------------------


def _omniglot_like(root: Path) -> None:
    """`<alphabet>/<character>/*.png`, characters named alike in both alphabets."""
    rng = np.random.default_rng(0)
    for alphabet in ("Greek", "Latin"):
        for character in ("character01", "character02"):
            folder = root / alphabet / character
            folder.mkdir(parents=True)
            for k in range(3):
                (folder / f"{k}.png").write_bytes(
                    encode_png(rng.integers(0, 256, (8, 8), dtype=np.uint8))
                )
    (root / ".hidden").mkdir()  # skipped


def _image_card(tmp_path: Path, label_names: list[str], options: dict) -> Path:
    card = base_card(
        "glyphs",
        modality="image",
        inputs={"image": "image"},
        label_names=label_names,
        metrics=["accuracy"],
        tags=["image"],
        data={
            "local": [
                {
                    "format": "imagefolder",
                    "path": "omni",
                    "files": {"train": "background", "test": "background"},
                    "options": options,
                }
            ]
        },
    )
    return write_card(tmp_path / "cards", card)


@pytest.mark.parametrize(
    ("options", "label_names", "expected"),
    [
        ({}, ["Greek", "Latin"], ["Greek"] * 6 + ["Latin"] * 6),  # level 1: images found below
        (
            {"label_level": 2},
            ["character01", "character02"],
            (["character01"] * 3 + ["character02"] * 3) * 2,
        ),
        (
            {"label_level": 2, "label_path": True},
            ["Greek/character01", "Greek/character02", "Latin/character01", "Latin/character02"],
            [f"{a}/character0{c}" for a in ("Greek", "Latin") for c in (1, 2) for _ in range(3)],
        ),
    ],
    ids=["alphabet", "character", "path"],
)
def test_nested_image_folders_label_by_the_chosen_level(tmp_path, options, label_names, expected):
    _omniglot_like(tmp_path / "data" / "omni" / "background")
    card = load_card(_image_card(tmp_path, label_names, options))
    ds, _, _ = load_raw_split(card, "train", tmp_path / "data", "local")
    assert [label_names[i] for i in ds["label"]] == expected
    assert ds[0]["image"].size == (8, 8)


def test_a_wrong_label_level_is_an_error_naming_folder_and_option(tmp_path):
    _omniglot_like(tmp_path / "data" / "omni" / "background")
    card = load_card(_image_card(tmp_path, ["Greek", "Latin"], {"label_level": 2}))
    with pytest.raises(
        DataError, match=r"character01' \(label_level 2\) is not a class.*options.label_level"
    ):
        load_raw_split(card, "train", tmp_path / "data", "local")
    flat = tmp_path / "data" / "omni" / "flat"
    (flat / "Greek").mkdir(parents=True)
    (flat / "Greek" / "a.png").write_bytes(encode_png(np.zeros((4, 4), np.uint8)))
    card = card_from_dict(
        {
            **load_card(_image_card(tmp_path, ["Greek", "Latin"], {"label_level": 2})).raw,
            "data": {
                "local": [
                    {
                        "format": "imagefolder",
                        "path": "omni",
                        "files": {"train": "flat"},
                        "options": {"label_level": 2},
                    }
                ]
            },
        }
    )
    with pytest.raises(DataError, match=r"flat: no images found .*options.label_level is 2"):
        load_raw_split(card, "train", tmp_path / "data", "local")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"label_level": 0}, "label_level': must be a whole number from 1"),
        ({"label_path": "yes"}, "label_path': must be true or false"),
    ],
)
def test_bad_image_folder_options_are_card_errors(tmp_path, options, expected):
    with pytest.raises(CardErrors, match=expected):
        load_card(_image_card(tmp_path, ["Greek", "Latin"], options))


@pytest.mark.realdata
def test_omniglot_alphabets_card_reads_the_real_nested_folders(real_data_dir):
    from harness.taskregistry import TaskRegistry

    td = load_task(TaskRegistry().get("omniglot_alphabets"), real_data_dir)
    assert len(td.train) + len(td.validation) + len(td.test) == 2720
    assert set(td.test["labels"]) == set(range(5))
    assert td.train[0]["image"].size == (105, 105)


# --- 7b. save_to_disk folders -----------------------------------------------------------------


def _saved(folder: Path, flip: bool = False) -> None:
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["pos", "neg"])}
    )
    rows = {"sentence": [f"s{i}" for i in range(10)], "label": [(i + flip) % 2 for i in range(10)]}
    ds = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": ds, "test": ds.select(range(4))}).save_to_disk(str(folder))


def test_save_to_disk_folders_are_a_local_format(tmp_path):
    data = tmp_path / "data"
    _saved(data / "saved")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    card = load_card(
        _card(
            tmp_path, format="save_to_disk", path="saved", files={"train": "train", "test": "test"}
        )
    )
    td = load_task(card, data)
    assert td.source == "local" and len(td.test) == 4
    # the data's own class names (pos, neg) are matched by name to the card's (neg, pos)
    assert _names(td) == ["pos", "neg", "pos", "neg"]
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing written there
    _, _, first = load_raw_split(card, "test", data)
    _saved(data / "saved", flip=True)  # saved again, in place
    ds, _, again = load_raw_split(card, "test", data)
    assert again != first and ds["label"][0] == 1


def test_save_to_disk_dataset_dict_folder_names_its_splits(tmp_path):
    data = tmp_path / "data"
    _saved(data / "saved")
    card = load_card(
        _card(tmp_path, format="save_to_disk", path=".", files={"train": "saved", "test": "saved"})
    )
    with pytest.raises(
        DataError, match=r"saved: a DatasetDict folder \(splits \['train', 'test'\]\)"
    ):
        load_task(card, data)


# --- 7d. generator arguments that name the data folder ---------------------------------------

GENERATOR = """
import datasets

def make(path):
    lines = open(path).read().split()
    rows = {"sentence": [l.split(",")[0] for l in lines], "label": [l.split(",")[1] for l in lines]}
    return {"train": datasets.Dataset.from_dict(rows), "test": datasets.Dataset.from_dict(rows)}
"""


def _generator_card(tmp_path: Path) -> Path:
    (tmp_path / "cards").mkdir(parents=True, exist_ok=True)
    (tmp_path / "cards" / "gen.py").write_text(GENERATOR)
    card = base_card(
        "gen_task",
        data={
            "generator": {
                "function": "gen.py:make",
                "kwargs": {"path": "{data_dir}/corpus/rows.txt"},
            }
        },
    )
    return write_card(tmp_path / "cards", card)


def test_generator_kwargs_name_the_data_folder(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (second / "corpus").mkdir(parents=True)
    (second / "corpus" / "rows.txt").write_text(
        "\n".join(f"w{i},{'pos' if i % 2 else 'neg'}" for i in range(10))
    )
    card = load_card(_generator_card(tmp_path))
    td = load_task(card, [first, second])  # the folder that has the file
    assert td.source == "generator" and len(td.test) == 10
    moved = tmp_path / "moved"
    second.rename(moved)
    monkeypatch.setenv("TRANSFERBENCH_DATA_DIR", str(moved))  # the same data, elsewhere
    assert load_task(card).fingerprints["test"] == td.fingerprints["test"]  # not keyed by where


def test_generator_data_dir_without_a_data_folder_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFERBENCH_DATA_DIR", raising=False)
    card = load_card(_generator_card(tmp_path))
    with pytest.raises(ConfigError) as info:
        load_task(card)
    msg = str(info.value)
    assert "gen_task.yaml: field 'data.generator.kwargs.path'" in msg
    assert "--data_dir" in msg and "TRANSFERBENCH_DATA_DIR" in msg


# --- 6. a Hub that does not answer ------------------------------------------------------------

HUB_SCRIPT = """
import sys, time
from harness.cli import main
import harness.data.loading, datasets  # imported before the clock starts
start = time.perf_counter()
code = main(sys.argv[1:])
print(f"SECONDS {time.perf_counter() - start:.2f}", file=sys.stderr)
sys.exit(code)
"""


def test_an_unreachable_hub_fails_in_seconds_saying_what_to_set(tmp_path):
    card = base_card("hubbed")
    card["data"]["hub"] = {"path": "someone/no_such_dataset"}
    write_card(tmp_path / "cards", card)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    }
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"), OMP_NUM_THREADS="1")
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            HUB_SCRIPT,
            "inspect",
            "hubbed",
            "--include_path",
            str(tmp_path / "cards"),
            "--data_dir",
            str(empty),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, (time.monotonic() - started, proc.stderr[-3000:])
    err = proc.stderr
    assert "Traceback" not in err and err.startswith("error: "), err
    assert str(empty / "hubbed" / "train.csv") in err  # the local paths tried
    assert "http://127.0.0.1:9 does not answer" in err
    assert "--data_dir or $TRANSFERBENCH_DATA_DIR" in err and "HF_HUB_OFFLINE=1" in err
    seconds = float(err.rsplit("SECONDS ", 1)[1].split()[0])
    assert seconds < 10, err  # the Hub libraries retried for 26 s against a refused port


def test_offline_mode_asks_nothing(tmp_path, monkeypatch):
    """With HF_HUB_OFFLINE (as in these tests), the Hub is not asked: `datasets` reads its cache."""
    from harness.data import loading

    def never(*_):
        raise AssertionError("the Hub was asked although offline mode is on")

    monkeypatch.setattr(loading, "hub_unreachable", never)
    card = card_from_dict(base_card(data={"hub": {"path": "someone/no_such_dataset"}}))
    with pytest.raises(DataError, match="hub:someone/no_such_dataset") as info:
        load_task(card)
    assert "The Hub cannot be reached" not in str(info.value)
