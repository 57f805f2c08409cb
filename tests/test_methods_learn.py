"""Every registered method learns: built-ins, the example plug-in (`examples/methods/l2sp.py`),
and whatever `$TRANSFERBENCH_PLUGINS` or installed `transferbench.methods` entry points add.

Each method's `test_settings` (a class attribute) describes a tiny suite on the synthetic text
family: `target` (default synth_text_near), `sources`, `task_set` (multi-task methods),
`fraction`, `config` (the method's settings), `budget` (over the suite's), `max_train_samples`
(a cap on every training split, task sets included), and `margin`: the
primary score must beat the target's majority-class floor by at least this much (default 0.15;
the floor of these binary targets is about 0.5). A method without
`test_settings` fails here, naming what to add."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from suitekit import BUDGET, method_registry_kept, run, suite

from harness.methods import discover_methods
from harness.plugins import load_method_file

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples" / "methods").glob("*.py"))
SETTINGS = {
    "target",
    "sources",
    "task_set",
    "fraction",
    "config",
    "budget",
    "margin",
    "max_train_samples",
}


def _load_examples() -> None:
    for file in EXAMPLES:
        load_method_file(file)


def _all_methods() -> list[str]:
    """Every method name, the examples' included. The registry is left as it was: each test
    loads the examples again, so no other test module sees them."""
    with method_registry_kept():
        _load_examples()
        return discover_methods().names()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One cache for the module: a source or task set is trained once for every method."""
    return tmp_path_factory.mktemp("learn-cache")


@pytest.mark.parametrize("name", _all_methods())
def test_every_registered_method_learns_on_a_synthetic_task(name, tmp_path, shared_cache):
    _load_examples()
    cls = discover_methods().get(name)
    settings = cls.test_settings
    if settings is None:
        pytest.fail(
            f"method '{name}' ({cls.__module__}) has no test_settings: give the class e.g. "
            "`test_settings = {'sources': ['synth_text_anchor'], 'fraction': 0.2}` "
            "(see tests/test_methods_learn.py) so this test can check that it learns"
        )
    unknown = set(settings) - SETTINGS
    assert not unknown, (
        f"method '{name}': unknown test_settings {sorted(unknown)}; use {sorted(SETTINGS)}"
    )
    target = settings.get("target", "synth_text_near")
    kw = {"task_set": settings["task_set"]} if "task_set" in settings else {}
    if "max_train_samples" in settings:  # caps sources and task sets too: a quicker check
        kw["max_train_samples"] = settings["max_train_samples"]
    sources = settings.get("sources") or []
    specs = suite(
        targets=[target],
        sources=["+".join(sources)] if sources else ["none"],
        methods={name: dict(settings.get("config") or {})},
        fractions=[settings.get("fraction", 0.2)],
        seeds=[0],
        budget={**BUDGET, **(settings.get("budget") or {})},
        **kw,
    )
    _, outcome, records = run(specs, tmp_path / "out", shared_cache)
    assert not outcome.failed, [r.get("error") for r in records.values()]
    score = np.mean([r["primary_score"] for r in records.values()])
    floor = np.mean([r["floor"]["primary"] for r in records.values()])
    margin = settings.get("margin", 0.15)
    assert score >= floor + margin, (
        f"method '{name}' does not learn: {score:.3f} vs majority floor {floor:.3f} (+{margin} needed)"
    )


def test_a_method_without_test_settings_fails_the_learning_test_loudly(tmp_path):
    """The check above, on a plug-in that forgot its settings: it must fail, naming the fix."""
    plugin = tmp_path / "forgetful.py"
    plugin.write_text(
        "from baselines.finetune import Finetune\nfrom harness.methods import register_method\n\n"
        "@register_method\nclass Forgetful(Finetune):\n    name = 'forgetful_method'\n    test_settings = None\n"
    )
    assert load_method_file(plugin) == ["forgetful_method"]  # gone after the test (conftest)
    with pytest.raises(pytest.fail.Exception, match="has no test_settings"):
        test_every_registered_method_learns_on_a_synthetic_task(
            "forgetful_method", tmp_path, tmp_path
        )
