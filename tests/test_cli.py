"""The `transferbench` command (run as `python -m harness`): listing the registries, extra task
folders through `--include_path`, and user mistakes that exit non-zero with a "did you mean" and
no Python traceback, before anything is trained."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from harness import __version__  # noqa: E402
from harness.backbones import BACKBONES  # noqa: E402
from harness.cli import main  # noqa: E402

GLUE = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "mnli_mismatched", "qnli", "rte", "wnli"]
VISION = ["mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "digits"]
SYNTHETIC_TEXT = ["synth_text_anchor", "synth_text_near", "synth_text_mid", "synth_text_far"]
SYNTHETIC_IMAGE = ["synth_image_anchor", "synth_image_near", "synth_image_mid", "synth_image_far"]


def _env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("TRANSFERBENCH_DATA_DIR", None)
    return env


def cli_process(*args: object) -> subprocess.CompletedProcess:
    """The command in its own process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def table_names(stdout: str) -> list[str]:
    """The first column of a GitHub-style table, without its header."""
    rows = [line for line in stdout.splitlines() if line.startswith("|")]
    return [r.split("|")[1].strip() for r in rows[2:]]


@pytest.fixture
def cli(capsys, monkeypatch):
    """The command in this process (a subprocess pays ~4 s of imports; `cli_process` and
    `test_python_m_harness_matches_the_entry_point` check that the two agree), with no data
    folder set and `cwd` as its working folder; an argparse error's exit is its code."""

    def call(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
        monkeypatch.delenv("TRANSFERBENCH_DATA_DIR", raising=False)
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return call


def test_a_command_run_in_the_test_process_leaves_the_environment_as_it_was(run_main, tmp_path):
    """`--data_dir` is exported by the CLI; a test's in-process command once left it set for
    every later test of its worker, which then skipped the real MiniLM tests as missing."""
    before = dict(os.environ)
    proc = run_main("run", "--dry_run", "--data_dir", tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr
    assert dict(os.environ) == before


def assert_user_error(proc: subprocess.CompletedProcess, *expected: str, code: int = 2) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


# --- listing ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed_tasks() -> subprocess.CompletedProcess:
    return cli_process("list", "tasks")


def test_list_tasks(listed_tasks):
    assert listed_tasks.returncode == 0, listed_tasks.stderr
    names = table_names(listed_tasks.stdout)
    missing = set(GLUE + VISION + SYNTHETIC_TEXT + SYNTHETIC_IMAGE) - set(names)
    assert not missing, missing
    assert names == sorted(names) and len(names) == len(set(names))
    assert "| name " in listed_tasks.stdout and "primary metric" in listed_tasks.stdout
    row = next(line for line in listed_tasks.stdout.splitlines() if line.startswith("| stsb "))
    assert "regression (pair)" in row and "pearson (max)" in row


def test_python_m_harness_matches_the_entry_point(listed_tasks, capsys):
    assert main(["list", "tasks"]) == 0
    assert capsys.readouterr().out == listed_tasks.stdout
    exe = shutil.which("transferbench")
    if exe is None:
        pytest.skip("the transferbench entry point is not installed")
    proc = subprocess.run(
        [exe, "list", "tasks"], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout == listed_tasks.stdout


def test_list_tasks_by_tag(cli):
    proc = cli("list", "tasks", "--tag", "glue")
    assert proc.returncode == 0, proc.stderr
    assert sorted(table_names(proc.stdout)) == sorted(GLUE)


def test_list_tasks_by_modality(capsys):
    assert main(["list", "tasks", "--tag", "image"]) == 0
    names = table_names(capsys.readouterr().out)
    assert set(VISION + SYNTHETIC_IMAGE) <= set(names)
    assert not set(GLUE) & set(names)


def test_list_tasks_unknown_tag_is_empty(capsys):
    assert main(["list", "tasks", "--tag", "no-such-tag"]) == 0
    assert capsys.readouterr().out.strip() == "(none)"


def test_list_metrics(cli):
    proc = cli("list", "metrics")
    assert proc.returncode == 0, proc.stderr
    names = table_names(proc.stdout)
    assert {"accuracy", "f1", "mcc", "pearson", "spearman", "mse"} <= set(names)
    mse = next(line for line in proc.stdout.splitlines() if line.startswith("| mse "))
    assert "min" in mse and "regression" in mse


def test_list_backbones(run_main):
    proc = run_main("list", "backbones")
    assert proc.returncode == 0, proc.stderr
    assert sorted(table_names(proc.stdout)) == BACKBONES.names()
    assert {"bert-tiny", "resnet-tiny", "vit-tiny"} <= set(BACKBONES.names())


def test_list_backbones_by_tag(capsys):
    assert main(["list", "backbones", "--tag", "image"]) == 0
    names = table_names(capsys.readouterr().out)
    assert names and all(BACKBONES.get(n).modality == "image" for n in names)


def test_list_methods(run_main):
    proc = run_main("list", "methods")
    assert proc.returncode == 0, proc.stderr
    assert {"scratch", "feature_extraction", "finetune"} <= set(table_names(proc.stdout))
    assert "freeze_first_n=0" in proc.stdout  # settings with their defaults


def test_list_suites(run_main):
    proc = run_main("list", "suites")
    assert proc.returncode == 0, proc.stderr
    assert "quick" in table_names(proc.stdout)


def test_list_something_unknown_is_an_argparse_error(cli):
    proc = cli("list", "widgets")
    assert proc.returncode == 2 and "invalid choice: 'widgets'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"transferbench {__version__}"


# --- --include_path ---------------------------------------------------------------------------


def _card(name: str, data: dict) -> dict:
    return {
        "name": name,
        "version": 1,
        "modality": "text",
        "problem": "classification",
        "inputs": {"text": "sentence"},
        "label": "label",
        "label_names": ["neg", "pos"],
        "splits": {"train": "train", "test": "test"},
        "metrics": ["accuracy"],
        "primary_metric": "accuracy",
        "direction": "max",
        "tags": ["extra"],
        "data": data,
    }


@pytest.fixture
def extra(tmp_path) -> tuple[Path, Path]:
    """A folder with a csv card and a generator card, and a data folder for the csv card."""
    cards, data = tmp_path / "cards", tmp_path / "data"
    (cards / "nested").mkdir(parents=True)
    (data / "my_csv").mkdir(parents=True)
    csv = _card(
        "my_csv_task",
        {
            "local": [
                {"format": "csv", "path": "my_csv", "files": {"train": "tr.csv", "test": "te.csv"}}
            ]
        },
    )
    (cards / "my_csv_task.yaml").write_text(yaml.safe_dump(csv))
    rows = "\n".join(f"sentence {i},{i % 2}" for i in range(20))
    (data / "my_csv" / "tr.csv").write_text(f"sentence,label\n{rows}\n")
    (data / "my_csv" / "te.csv").write_text("sentence,label\nhello,pos\nworld,neg\nagain,1\n")
    gen = _card("my_gen_task", {"generator": {"function": "gen.py:make", "kwargs": {"n": 12}}})
    (cards / "nested" / "my_gen_task.yaml").write_text(yaml.safe_dump(gen))
    (cards / "nested" / "gen.py").write_text(
        "import datasets\n\n"
        "def make(n=8):\n"
        "    rows = {'sentence': [f'w{i}' for i in range(n)], 'label': [i % 2 for i in range(n)]}\n"
        "    return {'train': datasets.Dataset.from_dict(rows),\n"
        "            'test': datasets.Dataset.from_dict(rows)}\n"
    )
    return cards, data


def test_include_path_lists_extra_cards(extra, cli):
    cards, _ = extra
    proc = cli("list", "tasks", "--include_path", cards, "--tag", "extra")
    assert proc.returncode == 0, proc.stderr
    assert table_names(proc.stdout) == ["my_csv_task", "my_gen_task"]
    plain = cli("list", "tasks")
    assert "my_csv_task" not in plain.stdout


def test_inspect_an_include_path_csv_task(extra, tmp_path, cli):
    cards, data = extra
    proc = cli("inspect", "my_csv_task", "--include_path", cards, "--data_dir", data, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "my_csv_task: source=local" in proc.stdout
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in proc.stdout.splitlines()[3:]
        if line.startswith("|")
    }
    assert rows == {"train": "18", "validation": "2", "test": "3"}
    assert "sentence, labels" in proc.stdout
    # label counts per split and the majority floor on the scored split (1 neg, 2 pos)
    assert "| test       |      3 | sentence, labels | neg 1, pos 2 |" in proc.stdout, proc.stdout
    assert "floor on the scored split: majority class 'pos': accuracy 0.6667" in proc.stdout


def test_inspect_a_generator_relative_to_its_card(extra, tmp_path, capsys):
    cards, _ = extra
    # in-process: the generator file is found from the card's folder, whatever the cwd
    assert main(["inspect", "my_gen_task", "--include_path", str(cards)]) == 0
    out = capsys.readouterr().out
    assert "my_gen_task: source=generator" in out
    assert "| test       |     12 |" in out


def test_inspect_with_missing_data_lists_what_was_tried(extra, tmp_path, run_main):
    cards, _ = extra
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_main("inspect", "my_csv_task", "--include_path", cards, "--data_dir", empty)
    assert_user_error(proc, "cannot find split 'train'", "Tried:", str(empty / "my_csv" / "tr.csv"))


def test_inspect_unknown_task(run_main):
    proc = run_main("inspect", "sst3")
    assert_user_error(proc, "unknown task 'sst3'", "Did you mean 'sst2'")


def test_broken_include_path_card_is_reported(tmp_path, cli):
    (tmp_path / "bad.yaml").write_text("name: bad\nversion: 1\n  modality: text\n")
    proc = cli("list", "tasks", "--include_path", tmp_path)
    assert_user_error(proc, "problem(s) in task cards", "bad.yaml", "line 3")


def test_validate_a_missing_path(cli):
    proc = cli("validate", "no/such/folder")
    assert proc.returncode == 1 and "no such file or folder" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- mistakes in `run` fail before anything trains --------------------------------------------


def test_run_unknown_target(tmp_path, cli):
    """The one `run` mistake checked in a real subprocess (the others run `main` in-process)."""
    proc = cli("run", "--targets", "sst3", "--backbone", "bert-tiny", "--dry_run", cwd=tmp_path)
    assert_user_error(proc, "unknown task 'sst3'", "Did you mean 'sst2'")


def test_run_unknown_target_without_a_backbone(run_main):
    proc = run_main("run", "--targets", "sst3", "--dry_run")
    assert_user_error(proc, "Did you mean 'sst2'")


def test_run_unknown_source(run_main):
    proc = run_main(
        "run",
        "--targets",
        "sst2",
        "--sources",
        "synth_text_anchr",
        "--backbone",
        "bert-tiny",
        "--dry_run",
    )
    assert_user_error(proc, "unknown task 'synth_text_anchr'", "Did you mean 'synth_text_anchor'")


def test_run_unknown_method_fails_before_training(tmp_path, monkeypatch, run_main):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    proc = run_main(
        "run",
        "--targets",
        "synth_text_near",
        "--backbone",
        "bert-tiny",
        "--methods",
        "finetun",
        "--output_dir",
        out,
    )
    assert_user_error(proc, "unknown method 'finetun'", "Did you mean 'finetune'")
    assert not out.exists() and not (tmp_path / "results").exists()


def test_run_unknown_backbone_fails_before_training(tmp_path, monkeypatch, run_main):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    proc = run_main(
        "run", "--targets", "synth_text_near", "--backbone", "bert-tinyy", "--output_dir", out
    )
    assert_user_error(proc, "unknown backbone 'bert-tinyy'", "Did you mean 'bert-tiny'")
    assert not out.exists() and not (tmp_path / "results").exists()


def test_run_unknown_suite(run_main):
    proc = run_main("run", "--suite", "quik", "--dry_run")
    assert_user_error(proc, "unknown suite 'quik'", "Did you mean 'quick'")


def test_run_missing_suite_file(tmp_path, run_main):
    proc = run_main("run", "--config", tmp_path / "nope.yaml", "--dry_run")
    assert_user_error(proc, "nope.yaml", "cannot read")


def test_run_dry_run_expands_a_command_line_grid(tmp_path, monkeypatch, run_main):
    monkeypatch.chdir(tmp_path)
    proc = run_main(
        "run",
        "--targets",
        "synth_text_near,synth_image_near",
        "--sources",
        "none,synth_text_anchor",
        "--backbone",
        "bert-tiny,resnet-tiny",
        "--methods",
        "scratch,finetune",
        "--seeds",
        "0,1",
        "--dry_run",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # text: scratch once + finetune from {none, anchor}; image: scratch + finetune from none
    assert lines[-1] == "10 run(s)"
    assert sum("synth_text_anchor -> synth_text_near" in line for line in lines) == 2
    assert not any("synth_text_anchor -> synth_image_near" in line for line in lines)
    assert not (tmp_path / "results").exists()  # a dry run writes nothing
