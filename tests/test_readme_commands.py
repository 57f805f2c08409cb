"""Every command of the README's Commands block runs. A printed template (`[--tag ...]`,
`a|b`, `...`, `T`) is run in each of its forms with stand-ins for its placeholders; a command
that would train for long runs with `--dry_run`, or with `--limit` where what fails comes after
the training (the similarity step of a suite run with `--targets`, which once read the string's
characters). A command added to the README without an entry here fails the first test."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = "../shared/data"


def readme_commands() -> list[str]:
    """The Commands block's commands, continuation lines joined, comments dropped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", "", block)
    out = []
    for line in joined.splitlines():
        line = re.split(r"\s#\s", line, maxsplit=1)[0].strip()
        if line.startswith("transferbench"):
            out.append(line)
    return out


def forms(tmp: Path) -> dict[str, list[list[str]]]:
    """Each printed command, as the argument lists it stands for (stand-ins under `tmp`)."""
    quick = str(tmp / "quick")
    lim = ["--limit", "32", "--num_train_epochs", "1", "--cache_dir", str(tmp / "cache")]
    dry = ["--dry_run"]
    cards = tmp / "my_cards"
    mine = tmp / "my_suite.yaml"
    return {
        "transferbench list tasks [--tag glue|vision|synthetic|text|image] [--include_path DIR]": [
            ["list", "tasks"],
            *[
                ["list", "tasks", "--tag", t]
                for t in ("glue", "vision", "synthetic", "text", "image")
            ],
            ["list", "tasks", "--include_path", str(cards)],
        ],
        "transferbench list suites | methods | backbones | metrics": [
            ["list", k] for k in ("suites", "methods", "backbones", "metrics")
        ],
        "transferbench validate tasks/ my_cards/": [["validate", "tasks/", str(cards)]],
        f"transferbench inspect rte --data_dir {DATA}": [["inspect", "rte", "--data_dir", DATA]],
        "transferbench run": [["run", *dry]],
        "transferbench run --suite quick --targets synth_text_near --methods finetune --seeds 0,1,2": [
            [
                "run",
                "--suite",
                "quick",
                "--targets",
                "synth_text_near",
                "--methods",
                "finetune",
                "--seeds",
                "0,1,2",
                "--output_dir",
                quick,
                *lim,
            ]
        ],
        "transferbench run --config my_suite.yaml --output_dir results/mine": [
            ["run", "--config", str(mine), "--output_dir", str(tmp / "mine"), *dry]
        ],
        f"transferbench run --targets rte,mrpc --backbone {DATA}/models/all-MiniLM-L6-v2 --methods "
        f"feature_extraction,finetune --fractions 0.1,1.0 --seeds 0,1 --data_dir {DATA} "
        "--num_train_epochs 3 --learning_rate 3e-5": [
            [
                "run",
                "--targets",
                "rte,mrpc",
                "--backbone",
                f"{DATA}/models/all-MiniLM-L6-v2",
                "--methods",
                "feature_extraction,finetune",
                "--fractions",
                "0.1,1.0",
                "--seeds",
                "0,1",
                "--data_dir",
                DATA,
                "--num_train_epochs",
                "3",
                "--learning_rate",
                "3e-5",
                *dry,
            ]
        ],
        "transferbench run ... --limit 64": [["run", "--limit", "64", *dry]],
        f"transferbench run --suite glue-mtdnn-local --data_dir {DATA}": [
            ["run", "--suite", "glue-mtdnn-local", "--data_dir", DATA, *dry]
        ],
        f"transferbench run --suite nli-multitask --data_dir {DATA}": [
            ["run", "--suite", "nli-multitask", "--data_dir", DATA, *dry]
        ],
        # its BERT-base comes from the Hub, which the tests cannot reach: the rest of the suite
        # expands with a preset in its place
        "transferbench run --suite glue-mtdnn": [
            ["run", "--suite", "glue-mtdnn", "--backbone", "bert-tiny", *dry]
        ],
        "transferbench run ... --dry_run": [["run", *dry]],
        f"transferbench run --suite text-transfer --data_dir {DATA}": [
            ["run", "--suite", "text-transfer", "--data_dir", DATA, *dry]
        ],
        f"transferbench run --suite vision-transfer --data_dir {DATA}": [
            ["run", "--suite", "vision-transfer", "--data_dir", DATA, *dry]
        ],
        "transferbench run ... --gradient_checkpointing": [
            ["run", "--gradient_checkpointing", *dry]
        ],
        "transferbench run --suite quick --include examples/methods/l2sp.py --methods l2sp,finetune": [
            [
                "run",
                "--suite",
                "quick",
                "--include",
                "examples/methods/l2sp.py",
                "--methods",
                "l2sp,finetune",
                *dry,
            ]
        ],
        "transferbench run --suite quick --shard 0/4": [
            ["run", "--suite", "quick", "--shard", "0/4", *dry]
        ],
        "transferbench run --suite quick --executor ray": [
            ["run", "--suite", "quick", "--executor", "ray", *dry]
        ],
        "transferbench leaderboard --results results/quick --format md|latex|html|csv": [
            ["leaderboard", "--results", quick, "--format", f]
            for f in ("md", "latex", "html", "csv")
        ],
        "transferbench rescore --results results/quick --metric macro_f1": [
            ["rescore", "--results", quick, "--metric", "macro_f1"]
        ],
        "transferbench list measures": [["list", "measures"]],
        "transferbench similarity --tasks a,b,c [--measures logme,frechet] [--backbone B]": [
            [
                "similarity",
                "--tasks",
                "synth_text_near,synth_text_far,synth_text_anchor",
                "--measures",
                "frechet",
                "--max_rows",
                "64",
                "--output_dir",
                str(tmp / "sim"),
                "--cache_dir",
                str(tmp / "cache"),
            ],
            [
                "similarity",
                "--tasks",
                "synth_text_near,synth_text_far",
                "--measures",
                "frechet",
                "--backbone",
                "bert-tiny",
                "--max_rows",
                "64",
                "--output_dir",
                str(tmp / "sim2"),
                "--cache_dir",
                str(tmp / "cache"),
            ],
        ],
        "transferbench run --suite similarity": [["run", "--suite", "similarity", *dry]],
        "transferbench recommend --target T --results results/similarity": [
            [
                "recommend",
                "--target",
                "synth_text_near",
                "--results",
                quick,
                "--max_rows",
                "64",
                "--cache_dir",
                str(tmp / "cache"),
            ]
        ],
        "transferbench report --results results/similarity": [["report", "--results", quick]],
    }


def test_every_readme_command_has_its_runnable_forms_here(tmp_path):
    known = forms(tmp_path)
    printed = readme_commands()
    assert len(printed) >= 20
    missing = [c for c in printed if c not in known]
    assert not missing, (
        f"README commands without a form in tests/test_readme_commands.py: {missing}"
    )


@pytest.mark.realdata
def test_every_readme_command_runs(tmp_path, run_main, monkeypatch):
    monkeypatch.chdir(REPO)
    if not (REPO / DATA).is_dir():
        pytest.skip(f"{DATA} is not beside the checkout")
    cards = tmp_path / "my_cards"
    cards.mkdir()
    card = next((REPO / "tasks").rglob("synth_text_near.yaml"))
    (cards / "my_task.yaml").write_text(f"include: {card}\nname: my_task\n")
    shutil.copy(REPO / "tasks" / "suites" / "quick.yaml", tmp_path / "my_suite.yaml")
    os.environ.setdefault("TRANSFERBENCH_DATA_DIR", str((REPO / DATA).resolve()))
    known = forms(tmp_path)
    failures = []
    for printed in readme_commands():  # in README order: the results a later command reads exist
        for argv in known[printed]:
            proc = run_main(*argv)
            if proc.returncode != 0:
                failures.append(
                    f"{printed}\n  as {' '.join(argv)}: exit {proc.returncode}\n{proc.stderr[-800:]}"
                )
    assert not failures, "\n\n".join(failures)


def readme_suite_runs() -> list[str]:
    """Every `transferbench run --suite ...` and `transferbench run --config examples/...` the
    README's prose prints in backticks (the results sections' commands, which train for
    minutes to hours)."""
    raw = (REPO / "README.md").read_text(encoding="utf-8")
    text = raw.replace("\n", " ")
    found = re.findall(r"`(transferbench run --(?:suite|config\s+examples/)[^`]+)`", text)
    # and the results sections' shell blocks (shards, then the whole suite): each command without
    # its environment prefix, `&` and `wait;`
    for block in re.findall(r"```bash\n(.*?)```", raw.split("## Commands", 1)[1], re.S)[1:]:
        block = "\n".join(
            re.split(r"(?:^|\s)#\s", line, maxsplit=1)[0] for line in block.splitlines()
        )
        for part in re.split(r"[;&\n]", block):
            words = part.split()
            while words and "=" in words[0]:
                words = words[1:]
            if words[:2] == ["transferbench", "run"]:
                found.append(" ".join(words))
    return sorted(set(" ".join(c.split()) for c in found))


def test_every_suite_run_the_readme_prints_expands(run_main, monkeypatch):
    """Each as printed, with `--dry_run`: its suite exists and expands on the data folder."""
    monkeypatch.chdir(REPO)
    if not (REPO / DATA).is_dir():
        pytest.skip(f"{DATA} is not beside the checkout")
    printed = readme_suite_runs()
    assert {"domains-text", "depth-text", "yosinski"} <= {c.split()[3] for c in printed}
    assert "examples/mtdnn-optimizer-check.yaml" in {c.split()[3] for c in printed}
    assert any(c.endswith("--shard 1/2") and "glue-mtdnn-local" in c for c in printed)
    failures = []
    for command in printed:
        proc = run_main(*command.split()[1:], "--dry_run")
        if proc.returncode != 0:
            failures.append(f"{command}: exit {proc.returncode}\n{proc.stderr[-800:]}")
    assert not failures, "\n\n".join(failures)
