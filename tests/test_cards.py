"""Task cards and the data they point at: validation errors name the file and the field,
`include:` inheritance merges, and data problems name the task, the split and what was wrong."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import copy  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from harness.cards import card_from_dict, deep_merge, load_card, read_yaml  # noqa: E402
from harness.data.loading import DATA_DIR_ENV, load_raw_split, load_task  # noqa: E402
from harness.errors import CardErrors, ConfigError, DataError  # noqa: E402
from harness.taskregistry import builtin_tasks_dir, card_files, load_cards  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def base_card(name: str = "toy", **changes) -> dict:
    """A valid text classification card reading `<data_dir>/<name>/{train,test}.csv`."""
    card = {
        "name": name,
        "version": 1,
        "description": "a toy task",
        "modality": "text",
        "problem": "classification",
        "inputs": {"text": "sentence"},
        "label": "label",
        "label_names": ["neg", "pos"],
        "splits": {"train": "train", "test": "test"},
        "metrics": ["accuracy", "f1"],
        "primary_metric": "accuracy",
        "direction": "max",
        "tags": ["toy", "text"],
        "data": {
            "local": [
                {
                    "format": "csv",
                    "path": name,
                    "files": {"train": "train.csv", "test": "test.csv"},
                }
            ]
        },
    }
    card.update(changes)
    return card


def regression_card(name: str = "toy_reg") -> dict:
    return base_card(
        name,
        problem="regression",
        inputs={"text": "s1", "text_pair": "s2"},
        label="score",
        label_names=None,
        metrics=["pearson", "spearman"],
        primary_metric="pearson",
    )


def write_card(folder: Path, data: dict, filename: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (filename or f"{data['name']}.yaml")
    path.write_text(
        yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False)
    )
    return path


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def problems_of(data: dict, where: str = "cards/toy.yaml") -> list[str]:
    with pytest.raises(CardErrors) as info:
        card_from_dict(data, Path(where))
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def only_problem(data: dict, where: str = "cards/toy.yaml") -> str:
    problems = problems_of(data, where)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{where}: field '")
    return problems[0]


# --- the built-in cards -----------------------------------------------------------------------

BUILTIN_CARDS = card_files(builtin_tasks_dir())


def test_builtin_cards_are_found():
    names = {p.stem for p in BUILTIN_CARDS}
    assert {"sst2", "mnli_mismatched", "mnist", "synth_text_anchor"} <= names
    assert len(BUILTIN_CARDS) >= 25


@pytest.mark.parametrize("path", BUILTIN_CARDS, ids=lambda p: p.stem)
def test_every_builtin_card_validates(path):
    card = load_card(path)
    assert card.name == path.stem  # one card per task, file named after it
    assert card.primary_metric in card.metrics
    assert card.splits["train"] and card.splits["test"]
    assert card.source_kinds, "a card needs at least one data source"


def test_validate_command_accepts_the_tasks_folder(run_main, monkeypatch):
    monkeypatch.chdir(REPO)
    proc = run_main("validate", "tasks/")
    assert proc.returncode == 0, proc.stderr
    assert f"ok: {len(BUILTIN_CARDS)} card(s) valid" in proc.stdout


# --- include: inheritance ---------------------------------------------------------------------


def test_include_merges_the_variant_over_the_base(tmp_path):
    write_card(tmp_path, base_card("base_task"))
    variant = {
        "include": "base_task.yaml",
        "name": "variant_task",
        "splits": {"test": "dev"},  # a nested mapping: merged key by key
        "tags": ["variant"],  # a list: replaced
    }
    path = write_card(tmp_path, variant)
    card = load_card(path)
    base = load_card(tmp_path / "base_task.yaml")

    assert card.name == "variant_task"
    assert card.splits == {"train": "train", "validation": None, "test": "dev"}
    assert card.tags == ("variant",)
    # every other field comes from the base
    for fld in ("version", "modality", "problem", "inputs", "label", "label_names", "metrics"):
        assert getattr(card, fld) == getattr(base, fld), fld
    assert card.data == base.data and card.description == "a toy task"
    assert "include" not in card.raw
    assert card.path == path and card.content_hash != base.content_hash


def test_include_chain_and_list(tmp_path):
    write_card(tmp_path, base_card("a"))
    write_card(tmp_path / "sub", {"include": "../a.yaml", "name": "b", "direction": "max"})
    extra = tmp_path / "sub" / "extra.yaml"
    extra.write_text("description: from extra\nversion: 7\n")
    c = write_card(tmp_path / "sub", {"include": ["b.yaml", "extra.yaml"], "name": "c"}, "c.yaml")
    card = load_card(c)
    assert (card.name, card.version, card.description) == ("c", 7, "from extra")
    assert card.label_names == ("neg", "pos")


def test_deep_merge_does_not_mutate():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    merged = deep_merge(base, {"a": {"y": [3]}, "c": 2})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}


def test_include_cycle_is_an_error(tmp_path):
    write_card(tmp_path, {**base_card("one"), "include": "two.yaml"})
    write_card(tmp_path, {"name": "two", "include": "one.yaml"})
    with pytest.raises(ConfigError) as info:
        load_card(tmp_path / "one.yaml")
    msg = str(info.value)
    assert "field 'include'" in msg and "include cycle" in msg
    assert "one.yaml" in msg and "two.yaml" in msg


def test_self_include_is_a_cycle(tmp_path):
    path = write_card(tmp_path, {**base_card("me"), "include": "me.yaml"})
    with pytest.raises(ConfigError, match="include cycle"):
        load_card(path)


def test_missing_include_file_is_an_error(tmp_path):
    path = write_card(tmp_path, {**base_card("lonely"), "include": "nope.yaml"})
    with pytest.raises(ConfigError) as info:
        load_card(path)
    msg = str(info.value)
    assert msg.startswith(str(path.resolve()))
    assert "field 'include'" in msg and "'nope.yaml' not found" in msg


def test_include_must_be_file_names(tmp_path):
    path = write_card(tmp_path, {**base_card("odd"), "include": {"file": "x.yaml"}})
    with pytest.raises(ConfigError, match="field 'include': expected a file name"):
        load_card(path)


# --- malformed files --------------------------------------------------------------------------


def test_bad_indentation_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nversion: 1\n  modality: text\nproblem: classification\n")
    with pytest.raises(ConfigError) as info:
        load_card(path)
    msg = str(info.value)
    assert msg.startswith(str(path.resolve())) and "line 3" in msg and "invalid YAML" in msg


def test_bad_nested_indentation_names_the_line(tmp_path):
    path = tmp_path / "nested.yaml"
    path.write_text("name: nested\ninputs:\n  text: a\n   text_pair: b\nlabel: y\n")
    with pytest.raises(ConfigError, match=r"line 4\b"):
        read_yaml(path)


@pytest.mark.parametrize(
    "text, match",
    [("", "file is empty"), ("- a\n- b\n", "expected a mapping of fields, got list")],
)
def test_empty_or_non_mapping_file(tmp_path, text, match):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        read_yaml(path)
    assert str(path) in str(info.value)


def test_unreadable_card(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml(tmp_path / "absent.yaml")


def test_non_utf8_card_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\nversion: 1\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read") as info:
        read_yaml(path)
    assert str(path) in str(info.value)


# --- field validation -------------------------------------------------------------------------


def test_base_card_is_valid():
    card = card_from_dict(base_card(), Path("cards/toy.yaml"))
    assert card.num_labels == 2 and not card.is_pair and card.source_kinds == ["local"]
    reg = card_from_dict(regression_card(), Path("cards/toy_reg.yaml"))
    assert reg.num_labels == 1 and reg.is_pair and reg.label_names == ()


@pytest.mark.parametrize("fld", ["name", "label", "metrics", "data", "splits", "direction"])
def test_missing_required_field_names_file_and_field(fld):
    data = base_card()
    del data[fld]
    problems = problems_of(data)
    assert f"cards/toy.yaml: field '{fld}': missing required field" in problems


def test_missing_required_field_in_a_file(tmp_path):
    data = base_card()
    del data["modality"]
    path = write_card(tmp_path, data)
    with pytest.raises(CardErrors) as info:
        load_card(path)
    assert f"{path}: field 'modality': missing required field" in info.value.problems


def test_unknown_field_gets_did_you_mean():
    data = base_card()
    data["descripton"] = data.pop("description")
    msg = only_problem(data)
    assert "field 'descripton': unknown field. Did you mean 'description'" in msg


def test_non_string_field_name_is_reported():
    data = {**base_card(), 1: "x"}
    assert "field '1': unknown field" in only_problem(data)


@pytest.mark.parametrize(
    "fld, value, expected",
    [
        ("modality", "audio", "field 'modality': must be one of text, image, got 'audio'"),
        (
            "problem",
            "ranking",
            "must be one of classification, regression, multiple_choice, got 'ranking'",
        ),
        ("direction", "up", "field 'direction': must be 'max' or 'min', got 'up'"),
        ("direction", "min", "metric 'accuracy' is better when maximised, not min"),
        ("name", "  ", "field 'name': must be letters, digits"),
        ("name", "../../x", "field 'name': must be letters, digits"),
        ("name", "a/b", "no path"),
        ("name", ".hidden", "field 'name': must be letters, digits"),
        ("validation_fraction", 1.5, "must be a number between 0 and 1, got 1.5"),
        ("tags", "glue", "field 'tags': must be a list"),
        ("label_names", ["only"], "needs a list of at least two label names"),
        ("label_names", ["a", "a"], "label names must be unique"),
        ("inputs", {"text": "s", "image": "img"}, "field 'inputs.image': not an input role"),
        ("splits", {"train": "train"}, "field 'splits.test': missing"),
        ("splits", {"train": "t", "test": "t", "dev": "d"}, "unknown split role."),
    ],
)
def test_bad_value_names_the_field(fld, value, expected):
    data = base_card(**{fld: value})
    problems = problems_of(data)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("cards/toy.yaml: field '") for p in problems)


def test_bad_modality_problem_and_direction_are_all_reported():
    data = base_card(modality="audio", problem="ranking", direction="sideways")
    problems = problems_of(data)
    joined = "\n".join(problems)
    assert "field 'modality'" in joined and "field 'problem'" in joined
    assert "field 'direction'" in joined


def test_image_card_needs_an_image_column():
    data = base_card(modality="image", inputs={"text": "sentence"})
    problems = problems_of(data)
    assert any("field 'inputs.image': an image task needs an 'image' column" in p for p in problems)


def test_primary_metric_not_in_metrics():
    msg = only_problem(base_card(metrics=["accuracy"], primary_metric="f1"))
    assert "field 'primary_metric': 'f1' is not one of the card's metrics ['accuracy']" in msg


def test_unknown_metric_gets_did_you_mean():
    problems = problems_of(base_card(metrics=["acuracy", "f1"]))
    assert any(
        "field 'metrics': unknown metric 'acuracy'. Did you mean 'accuracy'?" in p for p in problems
    ), problems


def test_metric_for_the_wrong_problem():
    msg = only_problem(base_card(metrics=["accuracy", "pearson"]))
    assert "metric 'pearson' does not apply to classification" in msg


def test_malformed_metric_entries_are_reported_not_crashed():
    problems = problems_of(base_card(metrics=[{"name": "accuracy"}], primary_metric=["accuracy"]))
    assert any("field 'metrics'" in p for p in problems), problems
    assert any("field 'primary_metric'" in p for p in problems), problems


def test_regression_card_with_label_names():
    data = regression_card()
    data["label_names"] = ["a", "b"]
    assert "a regression task has no label names" in only_problem(data)


def test_unknown_local_format_gets_did_you_mean():
    data = base_card()
    data["data"]["local"][0]["format"] = "cvs"
    msg = only_problem(data)
    assert "field 'data.local[0].format': unknown format 'cvs'. Did you mean 'csv'?" in msg
    assert "Known:" in msg and "parquet" in msg


@pytest.mark.parametrize(
    "data_field, expected",
    [
        ({}, "field 'data': must name at least one of hub, local, generator"),
        ({"hbu": {"path": "x"}}, "field 'data.hbu': unknown data source. Did you mean 'hub'?"),
        ({"hub": {"name": "x"}}, "field 'data.hub.path': a Hub source needs a dataset id"),
        ({"local": [{"format": "csv", "files": {"train": "a"}}]}, "field 'data.local[0].path'"),
        ({"local": [{"format": "csv", "path": "p"}]}, "field 'data.local[0].files'"),
        ({"local": ["csv"]}, "field 'data.local[0]': must be a mapping"),
        ({"local": [{"format": ["csv"], "path": "p", "files": {"t": "a"}}]}, "unknown format"),
        ({"generator": {"kwargs": {}}}, "field 'data.generator.function'"),
    ],
)
def test_bad_data_sources(data_field, expected):
    problems = problems_of(base_card(data=data_field))
    assert any(expected in p for p in problems), problems


def test_a_single_local_mapping_becomes_a_list():
    data = base_card()
    data["data"]["local"] = data["data"]["local"][0]
    card = card_from_dict(data)
    assert isinstance(card.data["local"], list) and card.data["local"][0]["format"] == "csv"


def test_validate_lists_every_problem_in_every_file(tmp_path, run_main):
    broken = tmp_path / "broken"
    a = base_card("card_a", modality="audio")
    del a["label"]
    a["metrics"] = ["acuracy"]
    a["primary_metric"] = "acuracy"
    path_a = write_card(broken, a)
    path_b = broken / "card_b.yaml"
    path_b.write_text("name: card_b\nversion: 1\n  modality: text\n")
    write_card(broken, base_card("card_ok"))

    proc = run_main("validate", broken)
    assert proc.returncode != 0
    err = proc.stderr
    assert "Traceback" not in err
    for expected in (
        f"{path_a}: field 'modality'",
        f"{path_a}: field 'label': missing required field",
        f"{path_a}: field 'metrics': unknown metric 'acuracy'. Did you mean 'accuracy'?",
        f"{path_b.resolve()} (line 3",
    ):
        assert expected in err, err
    assert "card_ok" not in err
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    assert err.splitlines()[0] == f"{len(problems)} problem(s):"
    assert len(problems) >= 4


def test_load_cards_collects_problems_from_every_file(tmp_path):
    write_card(tmp_path, base_card("one", problem="ranking"))
    write_card(tmp_path, base_card("two", direction="up"))
    write_card(tmp_path, base_card("three"))
    cards, problems = load_cards([tmp_path])
    assert list(cards) == ["three"]
    assert any("one.yaml: field 'problem'" in p for p in problems)
    assert any("two.yaml: field 'direction'" in p for p in problems)


# --- data errors (csv cards in tmp_path) ------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def cards_dir(tmp_path) -> Path:
    folder = tmp_path / "cards"
    folder.mkdir()
    return folder


def toy_rows(n: int = 10) -> list[str]:
    return [f"sentence number {i},{'pos' if i % 2 else 'neg'}" for i in range(n)]


def test_csv_card_loads(data_dir, cards_dir):
    write_csv(data_dir / "toy" / "train.csv", "sentence,label", toy_rows(10))
    write_csv(data_dir / "toy" / "test.csv", "sentence,label", ["a,pos", "b,neg", "c,1"])
    card = load_card(write_card(cards_dir, base_card()))
    data = load_task(card, data_dir)
    assert data.source == "local"
    assert (len(data.train), len(data.validation), len(data.test)) == (9, 1, 3)
    assert data.test["labels"] == [1, 0, 1]  # names and indices both accepted
    assert data.train.column_names == ["sentence", "labels"]
    assert set(data.fingerprints) == {"train", "validation", "test"}


def test_data_dir_from_the_environment(data_dir, cards_dir, monkeypatch):
    write_csv(data_dir / "toy" / "train.csv", "sentence,label", toy_rows(4))
    write_csv(data_dir / "toy" / "test.csv", "sentence,label", toy_rows(2))
    card = load_card(write_card(cards_dir, base_card()))
    monkeypatch.setenv(DATA_DIR_ENV, str(data_dir))
    assert len(load_task(card).test) == 2


def test_missing_column_names_task_split_and_column(data_dir, cards_dir):
    write_csv(data_dir / "toy" / "train.csv", "text,label", toy_rows(4))
    write_csv(data_dir / "toy" / "test.csv", "sentence,label", toy_rows(2))
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(DataError) as info:
        load_task(card, data_dir)
    msg = str(info.value)
    assert "task 'toy'" in msg and "split 'train'" in msg
    assert "missing column(s) ['sentence']" in msg and "found ['text', 'label']" in msg


def test_missing_label_column_in_the_scored_split(data_dir, cards_dir):
    write_csv(data_dir / "toy" / "train.csv", "sentence,label", toy_rows(4))
    write_csv(data_dir / "toy" / "test.csv", "sentence", ["hidden", "labels"])
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(
        DataError, match=r"task 'toy', split 'test'.*missing column\(s\) \['label'\]"
    ):
        load_task(card, data_dir)


def test_empty_split(data_dir, cards_dir):
    write_csv(data_dir / "toy" / "train.csv", "sentence,label", toy_rows(4))
    write_csv(data_dir / "toy" / "test.csv", "sentence,label", [])
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(DataError) as info:
        load_task(card, data_dir)
    assert "task 'toy', split 'test'" in str(info.value) and "the split is empty" in str(info.value)


@pytest.mark.parametrize("bad, row", [("maybe", 2), ("5", 1), ("-1", 3), ("0.5", 0)])
def test_label_outside_the_label_set_names_the_row(data_dir, cards_dir, bad, row):
    rows = ["a,neg", "b,pos", "c,1", "d,0"]
    rows[row] = f"x,{bad}"
    write_csv(data_dir / "toy" / "train.csv", "sentence,label", rows)
    write_csv(data_dir / "toy" / "test.csv", "sentence,label", toy_rows(2))
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(DataError) as info:
        load_task(card, data_dir)
    msg = str(info.value)
    assert "task 'toy', split 'train'" in msg and f"row {row}: label" in msg
    assert bad in msg and "is not in the label set ['neg', 'pos']" in msg


@pytest.mark.parametrize("bad", ["abc", "inf", ""])
def test_non_numeric_regression_label(data_dir, cards_dir, bad):
    write_csv(data_dir / "toy_reg" / "train.csv", "s1,s2,score", ["a,b,0.5", f"c,d,{bad}", "e,f,3"])
    write_csv(data_dir / "toy_reg" / "test.csv", "s1,s2,score", ["a,b,1.0", "c,d,2"])
    card = load_card(write_card(cards_dir, regression_card()))
    with pytest.raises(DataError) as info:
        load_task(card, data_dir)
    msg = str(info.value)
    assert "task 'toy_reg', split 'train'" in msg
    assert "row 1: label" in msg and "is not a finite number" in msg


def test_regression_labels_become_floats(data_dir, cards_dir):
    write_csv(data_dir / "toy_reg" / "train.csv", "s1,s2,score", ["a,b,0.5", "c,d,4", "e,f,3"])
    write_csv(data_dir / "toy_reg" / "test.csv", "s1,s2,score", ["a,b,1.0", "c,d,2"])
    card = load_card(write_card(cards_dir, regression_card()))
    data = load_task(card, data_dir, roles=("test",))
    assert data.test["labels"] == [1.0, 2.0] and len(data.train) == 0
    assert data.test.features["labels"].dtype == "float32"


def test_missing_data_files_list_the_paths_tried(data_dir, cards_dir):
    data = base_card()
    data["data"]["local"].append(
        {"format": "csv", "path": "elsewhere/toy", "files": {"train": ["t1.csv", "t2.csv"]}}
    )
    card = load_card(write_card(cards_dir, data))
    with pytest.raises(DataError) as info:
        load_task(card, data_dir)
    msg = str(info.value)
    assert "task 'toy'" in msg and "cannot find split 'train'" in msg and "Tried:" in msg
    for path in (
        data_dir / "toy" / "train.csv",
        data_dir / "elsewhere" / "toy" / "t1.csv",
        data_dir / "elsewhere" / "toy" / "t2.csv",
    ):
        assert str(path) in msg


def test_missing_split_file_for_one_split(data_dir, cards_dir):
    write_csv(data_dir / "toy" / "train.csv", "sentence,label", toy_rows(4))
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(DataError) as info:
        load_task(card, data_dir)
    assert "cannot find split 'test'" in str(info.value)
    assert str(data_dir / "toy" / "test.csv") in str(info.value)


def test_no_data_dir_says_how_to_set_one(cards_dir, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(
        DataError, match=r"no data dir \(set --data_dir or \$TRANSFERBENCH_DATA_DIR\)"
    ):
        load_task(card)


def test_unknown_source_and_absent_source(data_dir, cards_dir):
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(ConfigError, match="unknown data source 'web'"):
        load_raw_split(card, "train", data_dir, source="web")
    with pytest.raises(DataError, match="no 'hub' source in the card"):
        load_raw_split(card, "train", data_dir, source="hub")


def test_too_few_rows_to_hold_out_validation(data_dir, cards_dir):
    write_csv(data_dir / "toy" / "train.csv", "sentence,label", ["only,pos"])
    write_csv(data_dir / "toy" / "test.csv", "sentence,label", toy_rows(2))
    card = load_card(write_card(cards_dir, base_card()))
    with pytest.raises(DataError, match="train split has 1 rows, too few"):
        load_task(card, data_dir)


# --- generator cards --------------------------------------------------------------------------

GENERATOR = """
import datasets

def make(n_train=8, n_test=4, fail=False):
    if fail:
        raise RuntimeError("generator exploded")
    def split(n, offset):
        return datasets.Dataset.from_dict(
            {"sentence": [f"w{i} w{i + offset}" for i in range(n)], "label": [i % 2 for i in range(n)]}
        )
    return {"train": split(n_train, 0), "test": split(n_test, 1)}
"""


def generator_card(name: str = "gen_task", function: str = "gen.py:make", **kwargs) -> dict:
    return base_card(
        name, data={"generator": {"function": function, "kwargs": kwargs or {"n_train": 10}}}
    )


def test_generator_relative_to_the_card_folder(cards_dir, monkeypatch, tmp_path):
    (cards_dir / "gen.py").write_text(GENERATOR)
    card = load_card(write_card(cards_dir, generator_card()))
    monkeypatch.chdir(tmp_path)  # the file is found from the card's folder, not the cwd
    data = load_task(card)
    assert data.source == "generator"
    assert (len(data.train), len(data.validation), len(data.test)) == (9, 1, 4)
    assert data.test["sentence"][0] == "w0 w1"


def test_generator_bad_kwargs(cards_dir):
    (cards_dir / "gen.py").write_text(GENERATOR)
    card = load_card(write_card(cards_dir, generator_card(n_rows=3)))
    with pytest.raises(ConfigError, match="field 'data.generator.kwargs'"):
        load_task(card)


def test_generator_file_missing(cards_dir):
    card = load_card(write_card(cards_dir, generator_card(function="nothere.py:make")))
    with pytest.raises(
        ConfigError, match=r"field 'data.generator.function': .*nothere.py not found"
    ):
        load_task(card)


def test_generator_without_the_named_split(cards_dir):
    (cards_dir / "gen.py").write_text(GENERATOR)
    data = generator_card()
    data["splits"] = {"train": "train", "test": "dev"}
    card = load_card(write_card(cards_dir, data))
    with pytest.raises(ConfigError, match=r"generator makes splits \['test', 'train'\], not 'dev'"):
        load_task(card)


def test_builtin_generator_by_module_path():
    from harness.taskregistry import TaskRegistry

    raw = copy.deepcopy(TaskRegistry().get("synth_text_pair").raw)
    raw["data"]["generator"]["kwargs"].update(n_train=20, n_test=6)
    data = load_task(card_from_dict(raw))
    assert (len(data.train) + len(data.validation), len(data.test)) == (20, 6)
    assert data.train.column_names == ["sentence1", "sentence2", "labels"]


def test_generator_function_missing_from_the_file(cards_dir):
    (cards_dir / "gen.py").write_text(GENERATOR)
    card = load_card(write_card(cards_dir, generator_card(function="gen.py:mkae")))
    with pytest.raises(ConfigError, match="field 'data.generator.function'"):
        load_task(card)


def test_every_card_field_format_and_option_is_documented():
    from harness.cards import (
        GENERATOR_FIELDS,
        HUB_FIELDS,
        LOCAL_FIELDS,
        RESPLIT_FIELDS,
        TOP_LEVEL_FIELDS,
    )
    from harness.data.formats import FORMAT_OPTIONS, FORMATS
    from harness.data.text_lines import LAYOUTS

    doc = (Path(__file__).parents[1] / "docs" / "cards.md").read_text()
    assert set(FORMAT_OPTIONS) == set(FORMATS.names()), "every format declares its options"
    names = {
        *TOP_LEVEL_FIELDS,
        *LOCAL_FIELDS,
        *HUB_FIELDS,
        *GENERATOR_FIELDS,
        *RESPLIT_FIELDS,
        *FORMATS.names(),
        *LAYOUTS,
        *(o for opts in FORMAT_OPTIONS.values() for o in opts),
    }
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"docs/cards.md does not document {missing}"
