"""The declared method API (`harness.method_api`): the built-in methods and the example
plug-ins import nothing else of the harness, a plug-in written against it alone runs, and a
teacher's trained model comes back in its result (no side channel on the context)."""

from __future__ import annotations

import ast
from pathlib import Path

from suitekit import run, suite

import harness.method_api as api
from harness.plugins import load_method_file

REPO = Path(__file__).resolve().parents[1]
METHOD_FILES = sorted((REPO / "baselines").glob("*.py")) + sorted(
    (REPO / "examples" / "methods").glob("*.py")
)


def _harness_imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules |= {a.name for a in node.names if a.name.startswith("harness")}
    return modules


def test_methods_import_only_the_method_api():
    imports = {str(p.relative_to(REPO)): _harness_imports(p) for p in METHOD_FILES}
    offenders = {f: sorted(m - {"harness.method_api"}) for f, m in imports.items()}
    offenders = {f: m for f, m in offenders.items() if m}
    assert not offenders, f"import these through harness.method_api: {offenders}"


def test_every_name_of_the_api_resolves():
    assert len(api.__all__) == len(set(api.__all__))
    missing = [n for n in api.__all__ if not hasattr(api, n)]
    assert not missing


PLUGIN = '''
from dataclasses import dataclass

from harness.method_api import (EncoderWithHead, Method, MethodConfig, MethodResult,
                                build_head, register_method)


@dataclass
class ProbeThenTuneConfig(MethodConfig):
    pass


@register_method
class ProbeThenTune(Method):
    """Fine-tuning from the run's start encoder, written against the method API alone."""

    name = "api_only_method"
    Config = ProbeThenTuneConfig
    uses_sources = True
    test_settings = {"sources": ["synth_text_anchor"], "fraction": 0.2}

    def run(self, ctx):
        encoder = ctx.start_encoder()
        model = EncoderWithHead(encoder, build_head(ctx.card, encoder.feature_dim))
        result = ctx.train(model)
        assert result.model is model  # the trained model comes back with its result
        return MethodResult(result, {"api": True})
'''


def test_a_plugin_written_against_the_api_alone_runs_and_learns(tmp_path):
    plugin = tmp_path / "api_only.py"
    plugin.write_text(PLUGIN)
    assert _harness_imports(plugin) == {"harness.method_api"}
    assert load_method_file(plugin) == ["api_only_method"]  # gone after the test (conftest)
    specs = suite(methods={"api_only_method": {}}, sources=["synth_text_anchor"], fractions=[0.2])
    _, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache")
    assert not outcome.failed, [r.get("error") for r in records.values()]
    (record,) = records.values()
    assert record["extra"]["api"] is True
    assert record["primary_score"] >= record["floor"]["primary"] + 0.15
