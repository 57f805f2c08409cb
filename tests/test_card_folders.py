"""Folders of task cards as users keep them (issue #18): `validate` sees what `run` would refuse
(a name a shipped card has), one invalid card does not hide or block the others, and `inspect`
shows a few rows of each split with labels by name."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from test_cards import base_card, write_card, write_csv
from test_cli import assert_user_error

from harness.errors import CardErrors, UnknownNameError
from harness.taskregistry import TaskRegistry, builtin_tasks_dir

SST2 = builtin_tasks_dir() / "glue" / "sst2.yaml"
BROKEN_YAML = "name: broken_yaml\nversion: 1\n  modality: text\n"


@pytest.fixture
def folder(tmp_path) -> Path:
    """Cards: `good` (valid, with data), `bad_metric` (an unknown metric), `broken_yaml` (does
    not parse) and an unreadable file with no name line."""
    cards, data = tmp_path / "cards", tmp_path / "data"
    write_card(cards, base_card("good"))
    write_card(cards, base_card("bad_metric", metrics=["acuracy"], primary_metric="acuracy"))
    (cards / "broken_yaml.yaml").write_text(BROKEN_YAML)
    rows = [
        f"{'nice fine' if i % 2 else 'awful poor'} {i} {'x' * 80},{'pos' if i % 2 else 'neg'}"
        for i in range(20)
    ]
    write_csv(data / "good" / "train.csv", "sentence,label", rows)
    write_csv(data / "good" / "test.csv", "sentence,label", rows[:6])
    return tmp_path


# --- 1. a name a shipped card already has -----------------------------------------------------


def test_validate_reports_a_name_clash_with_a_shipped_card_naming_both_files(tmp_path, run_main):
    mine = write_card(tmp_path / "cards", base_card("sst2"))
    proc = run_main("validate", tmp_path / "cards")
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr
    assert str(mine) in proc.stderr and str(SST2) in proc.stderr, proc.stderr
    assert "field 'name': task 'sst2' is already defined in" in proc.stderr


def test_validate_of_the_shipped_cards_themselves_is_no_clash(run_main):
    proc = run_main("validate", SST2, builtin_tasks_dir())  # a file twice: checked once
    assert proc.returncode == 0, proc.stderr
    assert "problem" not in proc.stderr


# --- 3. one invalid card among valid ones -----------------------------------------------------


def test_validate_lists_every_invalid_card_at_once(folder, run_main):
    proc = run_main("validate", folder / "cards")
    assert proc.returncode == 1
    assert "bad_metric.yaml: field 'metrics': unknown metric 'acuracy'" in proc.stderr
    assert "broken_yaml.yaml (line 3, column 11): invalid YAML" in proc.stderr
    assert "good.yaml" not in proc.stderr


def test_run_goes_on_without_an_invalid_card_it_does_not_need(folder, run_main, caplog):
    with caplog.at_level(logging.WARNING, logger="harness.taskregistry"):
        proc = run_main("run", "--targets", "good", "--include_path", folder / "cards", "--dry_run")
    assert proc.returncode == 0, proc.stderr
    assert "none -> good" in proc.stdout
    warned = caplog.text  # which cards were left out, and why
    assert "left out 2 invalid card(s)" in warned
    assert "bad_metric.yaml: field 'metrics'" in warned and "broken_yaml.yaml" in warned


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("bad_metric", ["task 'bad_metric' is needed", "bad_metric.yaml: field 'metrics'"]),
        # the name read from a file that is not YAML
        ("broken_yaml", ["task 'broken_yaml' is needed", "broken_yaml.yaml (line 3"]),
    ],
)
def test_run_fails_when_the_suite_needs_the_invalid_card(folder, run_main, target, expected):
    proc = run_main("run", "--targets", target, "--include_path", folder / "cards", "--dry_run")
    assert_user_error(proc, "problem(s) in task cards", *expected)


def test_an_unknown_name_points_at_cards_that_do_not_read(folder):
    (folder / "cards" / "nameless.yaml").write_text("version: 1\n  modality: text\n")
    reg = TaskRegistry([folder / "cards"], strict=False)
    with pytest.raises(UnknownNameError) as info:
        reg.get("goood")
    msg = str(info.value)
    assert "Did you mean 'good'" in msg and "nameless.yaml" in msg
    assert "broken_yaml.yaml" not in msg  # its name is known: not the one asked for


def test_a_tag_an_invalid_card_carries_is_an_error(folder):
    reg = TaskRegistry([folder / "cards"], strict=False)
    with pytest.raises(CardErrors, match="tag 'toy' selects task"):
        reg.names("toy")  # `good` and `bad_metric` both carry it
    assert "good" in reg.names() and "bad_metric" not in reg


def test_a_clash_in_an_include_folder_leaves_out_both_only_if_needed(tmp_path):
    write_card(tmp_path / "cards", base_card("sst2"))
    write_card(tmp_path / "cards", base_card("mine"))
    reg = TaskRegistry([tmp_path / "cards"], strict=False)
    assert reg.get("mine").name == "mine" and reg.get("cola").name == "cola"
    with pytest.raises(CardErrors, match="task 'sst2' is needed.*already defined in"):
        reg.get("sst2")  # which of the two the suite means is unclear
    with pytest.raises(CardErrors):  # by default (list, submissions...) any problem is an error
        TaskRegistry([tmp_path / "cards"])
    with pytest.raises(CardErrors, match="no such file or folder"):  # a mistyped folder: always
        TaskRegistry([tmp_path / "cards", tmp_path / "cads"], strict=False)


# --- 4. inspect: sample rows ------------------------------------------------------------------


def _sample(out: str, role: str) -> list[list[str]]:
    """The cells of `inspect`'s sample rows of one split (a plain table, columns 2+ spaces apart)."""
    _, _, samples = out.partition("row(s) of each split")
    return [
        re.split(r"\s{2,}", line.strip())
        for line in samples.splitlines()
        if line.startswith(f"{role} ")
    ]


def test_inspect_goes_on_past_an_invalid_neighbour_and_shows_rows(folder, run_main):
    proc = run_main(
        "inspect", "good", "--include_path", folder / "cards", "--data_dir", folder / "data"
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 row(s) of each split" in proc.stdout
    sample = _sample(proc.stdout, "test")
    assert len(sample) == 3 and [row[1] for row in sample] == ["0", "2", "4"]  # spread: 6 rows
    # text cut at 60 characters, labels by name (not the positions 0 / 1)
    assert all(len(row[2]) == 60 and row[2].endswith("...") for row in sample)
    assert sample[0][2].startswith("awful poor 0 xxx") and sample[0][3] == "neg"
    assert {row[3] for row in _sample(proc.stdout, "train")} <= {"neg", "pos"}
    # the sizes table is still the only `|` table
    assert [
        line.split("|")[1].strip()
        for line in proc.stdout.splitlines()
        if line.startswith("| t") or line.startswith("| v")
    ] == ["train", "validation", "test"]


def test_inspect_rows_option(folder, run_main):
    proc = run_main(
        "inspect",
        "good",
        "--include_path",
        folder / "cards",
        "--data_dir",
        folder / "data",
        "--rows",
        "0",
    )
    assert proc.returncode == 0 and "row(s) of each split" not in proc.stdout
    proc = run_main(
        "inspect",
        "good",
        "--include_path",
        folder / "cards",
        "--data_dir",
        folder / "data",
        "--rows",
        "10",
    )
    assert len(_sample(proc.stdout, "test")) == 6  # every row of a 6-row split
