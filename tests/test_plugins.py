"""A new method in one file: `--include my_method.py`, `$TRANSFERBENCH_PLUGINS`, and installed
entry points (`transferbench.methods`), run against the baselines without touching the package;
the example L2-SP method does what its penalty says; bad plug-ins are named, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
L2SP = REPO / "examples" / "methods" / "l2sp.py"
TINY = (
    "name: plug\nbackbones: [{name: bert-tiny, max_length: 32, vocab_size: 1000}]\n"
    "targets: [synth_text_near]\nsources: [none]\nmethods: {finetune: {}}\nfractions: [0.2]\n"
    "seeds: [0]\nbudget: {num_train_epochs: 2, learning_rate: 2.0e-3}\n"
)


def _cli(
    *args: object, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_a_method_in_one_file_runs_against_the_baselines(tmp_path):
    config = tmp_path / "suite.yaml"
    config.write_text(TINY)
    out = tmp_path / "out"
    proc = _cli(
        "run",
        "--config",
        config,
        "--include",
        L2SP,
        "--methods",
        "l2sp,finetune",
        "--output_dir",
        out,
        "--cache_dir",
        tmp_path / "cache",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    by_method = {r["spec"]["method"]: r for r in records}
    assert set(by_method) == {"l2sp", "finetune"} and all(r["status"] == "ok" for r in records)
    assert "| l2sp" in proc.stdout  # on the leaderboard beside the baseline
    source = by_method["l2sp"]["provenance"]["method_source"]
    assert source["file"] == str(L2SP) and len(source["sha256"]) == 64  # which code ran
    assert by_method["finetune"]["provenance"]["method_source"] == {"module": "baselines.finetune"}
    assert by_method["l2sp"]["extra"]["distance_from_source"] > 0
    # the tokenizer a preset trained is part of what a score depends on: named in provenance
    assert by_method["l2sp"]["provenance"]["tokenizer_corpus"] == ["synth_text_near"]
    listed = _cli("list", "methods", "--include", L2SP)
    assert listed.returncode == 0 and "l2sp" in listed.stdout and "L2-SP" in listed.stdout


def test_an_installed_entry_point_registers_its_method(tmp_path):
    """A distribution on the path declaring `[transferbench.methods]` is found by name alone."""
    site = tmp_path / "site"
    (site / "myplug-0.1.dist-info").mkdir(parents=True)
    (site / "myplug-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n"
    )
    (site / "myplug-0.1.dist-info" / "entry_points.txt").write_text(
        "[transferbench.methods]\nmy_ft = myplug_method\n"
    )
    (site / "myplug_method.py").write_text(
        "from baselines.finetune import Finetune\nfrom harness.methods import register_method\n\n"
        "@register_method\nclass MyFt(Finetune):\n    name = 'my_ft'\n    description = 'from an entry point'\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = _cli("list", "methods", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "my_ft" in listed.stdout and "from an entry point" in listed.stdout
    # a broken entry point names itself and its distribution
    (site / "myplug-0.1.dist-info" / "entry_points.txt").write_text(
        "[transferbench.methods]\nbad = no_such_module_x\n"
    )
    broken = _cli("list", "methods", env=env)
    assert broken.returncode != 0 and "Traceback" not in broken.stderr
    assert "bad = no_such_module_x" in broken.stderr and "myplug" in broken.stderr


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (None, "missing.py", "no such file"),
        ("x = (\n", "syntax.py", "SyntaxError"),
        ("import no_such_module_for_sure\n", "imports.py", "ModuleNotFoundError"),
        ("X = 1\n", "empty.py", "registers no method"),
        (
            "from baselines.finetune import Finetune\nfrom harness.methods import register_method\n\n"
            "@register_method\nclass Clash(Finetune):\n    name = 'finetune'\n",
            "clash.py",
            "registered twice",
        ),
        ("", "notes.txt", "expected a Python file"),
        ("import sys\nsys.exit(0)\n", "exits.py", "sys.exit(0)"),  # once: exit 0 and no output
    ],
)
def test_a_bad_plugin_file_is_named_without_a_traceback(content, name, expected, tmp_path):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    config = tmp_path / "suite.yaml"
    config.write_text(TINY)
    proc = _cli("run", "--config", config, "--include", path, "--dry_run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: --include") and str(path) in proc.stderr
    assert expected in proc.stderr, proc.stderr


def test_a_plugin_module_that_does_not_import_is_named(tmp_path):
    proc = _cli("list", "methods", env={"TRANSFERBENCH_PLUGINS": "no_such_plugin_module"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "TRANSFERBENCH_PLUGINS" in proc.stderr and "no_such_plugin_module" in proc.stderr


def test_the_l2sp_penalty_by_hand():
    from harness.plugins import load_method_file

    load_method_file(L2SP)
    from importlib import import_module

    module = import_module(
        next(m for m in sys.modules if m.startswith("transferbench_plugin_l2sp"))
    )
    enc, head = torch.nn.Linear(2, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        enc.weight.copy_(torch.tensor([[1.0, 2.0]]))
        head.weight.fill_(3.0)
    start = {"weight": torch.tensor([[0.0, 4.0]])}
    # alpha/2 * ((1-0)^2 + (2-4)^2) + beta/2 * 3^2 = 0.5*0.1*5 + 0.5*0.2*9 = 0.25 + 0.9
    value = module.l2sp_penalty(enc, start, head, alpha=0.1, beta=0.2)
    assert float(value.detach()) == pytest.approx(1.15)
    assert (
        float(module.l2sp_penalty(enc, {"weight": enc.weight.detach()}, head, 1.0, 0.0).detach())
        == 0.0
    )
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        module.L2SPConfig(alpha=-1)


def test_a_strong_l2sp_pull_keeps_the_encoder_at_the_source(tmp_path):
    """The property the method exists for: a larger alpha leaves the encoder nearer its source."""
    from suitekit import BUDGET, run, suite

    from harness.plugins import load_method_file

    load_method_file(L2SP)
    specs = suite(
        targets=["synth_text_near"],
        sources=["synth_text_anchor"],
        fractions=[0.2],
        methods={
            "weak": {"method": "l2sp", "alpha": 0.0},
            "strong": {"method": "l2sp", "alpha": 100.0},
        },
        budget={**BUDGET, "num_train_epochs": 2},
    )
    _, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache")
    assert not outcome.failed
    moved = {r["spec"]["variant"]: r["extra"]["distance_from_source"] for r in records.values()}
    assert moved["strong"] < 0.5 * moved["weak"], moved


RAISES = """
from baselines.finetune import Finetune
from harness.methods import register_method

@register_method
class Raises(Finetune):
    name = "raises"
    description = "a plug-in whose run fails"

    def run(self, ctx):
        raise KeyError("a plug-in bug")
"""


def test_a_plugin_method_that_raises_fails_its_run_not_the_suite(tmp_path):
    """It aborted the whole suite with a traceback: no failed record, the other runs never ran."""
    import json

    plugin = tmp_path / "raises.py"
    plugin.write_text(RAISES)
    config = tmp_path / "suite.yaml"
    config.write_text(TINY)
    out = tmp_path / "out"
    proc = _cli(
        "run",
        "--config",
        config,
        "--include",
        plugin,
        "--methods",
        "raises,finetune",
        "--output_dir",
        out,
        "--cache_dir",
        tmp_path / "cache",
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    by_method = {r["spec"]["method"]: r for r in records}
    assert by_method["raises"]["status"] == "failed" and "KeyError" in by_method["raises"]["error"]
    assert by_method["finetune"]["status"] == "ok"
