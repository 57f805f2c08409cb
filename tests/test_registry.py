"""The one small `Registry` class and the task registry built on task cards: duplicate names
are errors, unknown names get a "did you mean", lazy `module:attr` entries import on first get,
and `names()` takes shell-style wildcards."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from harness.errors import (  # noqa: E402
    CardErrors,
    ConfigError,
    TransferBenchError,
    UnknownNameError,
)
from harness.registry import Registry, did_you_mean, import_object  # noqa: E402
from harness.taskregistry import TaskRegistry, builtin_tasks_dir, card_files  # noqa: E402


@pytest.fixture
def reg() -> Registry:
    r: Registry = Registry("widget")
    # (string entries are lazy `module:attr` references, so use other objects here)
    r.register("bert-tiny", ("BT",))
    r.register("bert-mini", ("BM",))
    r.register("resnet-tiny", ("RT",))
    r.register("vit-tiny", ("VT",))
    return r


# --- duplicates -------------------------------------------------------------------------------


def test_duplicate_name_is_an_error(reg):
    with pytest.raises(ConfigError, match=r"widget 'bert-tiny' is registered twice"):
        reg.register("bert-tiny", ("something else",))
    assert reg.get("bert-tiny") == ("BT",)  # the first registration is kept


def test_duplicate_through_the_decorator_is_an_error():
    r: Registry = Registry("method")

    @r.register("m")
    class A:
        pass

    with pytest.raises(ConfigError, match="registered twice"):

        @r.register("m")
        class B:  # noqa: F841 - the point is that registering it fails
            pass

    assert r.get("m") is A


def test_registering_the_same_object_again_is_allowed():
    """Re-importing a module re-runs its decorators with the same objects: not a duplicate."""
    r: Registry = Registry("thing")
    obj = object()
    r.register("x", obj)
    r.register("x", obj)
    assert r.get("x") is obj and len(r) == 1


def test_decorator_returns_the_target_unchanged():
    r: Registry = Registry("fn")

    @r.register("double")
    def double(x):
        return 2 * x

    assert double(3) == 6 and r.get("double") is double


# --- unknown names ----------------------------------------------------------------------------


def test_unknown_name_gets_did_you_mean(reg):
    with pytest.raises(UnknownNameError) as info:
        reg.get("bert-tinyy")
    msg = str(info.value)
    assert "unknown widget 'bert-tinyy'" in msg
    assert "Did you mean 'bert-tiny'" in msg
    assert "Known: bert-mini, bert-tiny, resnet-tiny, vit-tiny" in msg
    # a user error the CLI prints without a traceback, and still a KeyError for dict-like use
    assert isinstance(info.value, TransferBenchError) and isinstance(info.value, KeyError)
    assert not msg.startswith("'") and not msg.startswith('"')  # not KeyError's quoting


def test_unknown_name_with_nothing_close_lists_the_known_names(reg):
    with pytest.raises(UnknownNameError) as info:
        reg.get("zzzzzzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "Known: bert-mini" in str(info.value)


def test_unknown_name_in_an_empty_registry():
    with pytest.raises(UnknownNameError, match=r"Known: \(none\)"):
        Registry("measure").get("cka")


def test_did_you_mean():
    assert did_you_mean("finetun", ["scratch", "finetune", "feature_extraction"]) == (
        " Did you mean 'finetune'?"
    )
    assert did_you_mean("qqqq", ["scratch", "finetune"]) == ""
    # a substring match when nothing is close by edit distance
    assert "'synth_text_anchor'" in did_you_mean("anchor", ["synth_text_anchor", "cola"])


# --- lazy entries -----------------------------------------------------------------------------


def test_lazy_entry_imports_on_first_get(tmp_path, monkeypatch):
    module = "tb_lazy_registry_probe"
    (tmp_path / f"{module}.py").write_text("class Reader:\n    kind = 'lazy'\nIMPORTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)

    r: Registry = Registry("data format")
    r.register("probe", f"{module}:Reader")
    assert "probe" in r and r.names() == ["probe"]
    assert module not in sys.modules, "registering a lazy entry must not import it"

    cls = r.get("probe")
    assert module in sys.modules
    assert cls.kind == "lazy" and cls is sys.modules[module].Reader
    assert r.get("probe") is cls  # imported once, then cached
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_lazy_entry_with_a_dotted_attribute():
    r: Registry = Registry("fn")
    r.register("join", "os.path:join")
    assert r.get("join") is os.path.join
    assert import_object("harness.registry:Registry.names") is Registry.names


@pytest.mark.parametrize(
    "ref, match",
    [
        ("tb_no_such_module_xyz:thing", "cannot import module 'tb_no_such_module_xyz'"),
        ("json:no_such_attribute", "module 'json' has no attribute 'no_such_attribute'"),
        ("json.dumps", "not of the form 'module.path:attribute'"),
    ],
)
def test_bad_lazy_entry_fails_on_get_with_a_clear_error(ref, match):
    r: Registry = Registry("fn")
    r.register("broken", ref)  # registration itself is lazy and cannot fail
    with pytest.raises(ConfigError, match=match):
        r.get("broken")


def test_builtin_formats_are_lazy():
    from harness.data.formats import FORMATS

    assert {"csv", "json", "parquet", "glue_tsv", "idx", "npz"} <= set(FORMATS.names())
    assert callable(FORMATS.get("csv"))


# --- wildcards --------------------------------------------------------------------------------


def test_names_with_a_wildcard(reg):
    assert reg.names("bert*") == ["bert-mini", "bert-tiny"]
    assert reg.names("*-tiny") == ["bert-tiny", "resnet-tiny", "vit-tiny"]
    assert reg.names("[rv]*") == ["resnet-tiny", "vit-tiny"]
    assert reg.names("gpt*") == []
    assert reg.names() == ["bert-mini", "bert-tiny", "resnet-tiny", "vit-tiny"]
    assert list(reg) == reg.names() and len(reg) == 4


def test_backbone_registry_wildcard():
    from harness.backbones import BACKBONES

    assert BACKBONES.names("bert*") == ["bert-mini", "bert-small", "bert-tiny"]
    assert all(BACKBONES.get(n).modality == "image" for n in BACKBONES.names("resnet*"))


def test_method_registry_has_the_reference_methods():
    from harness.methods import discover_methods, get_method

    methods = discover_methods()
    assert {"scratch", "feature_extraction", "finetune"} <= set(methods.names())
    assert get_method("finetune").name == "finetune"
    with pytest.raises(UnknownNameError, match="Did you mean 'finetune'"):
        get_method("finetun")


# --- the task registry ------------------------------------------------------------------------


def _card(name: str, **extra) -> dict:
    card = {
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
        "data": {
            "local": [{"format": "csv", "path": name, "files": {"train": "a.csv", "test": "b.csv"}}]
        },
    }
    card.update(extra)
    return card


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_task_registry_builtin_names_and_tags():
    reg = TaskRegistry()
    assert "sst2" in reg and "sst3" not in reg
    assert reg.get("sst2").name == "sst2"
    glue = reg.names("glue")
    assert "sst2" in glue and "mnist" not in glue
    # a modality works as a tag
    assert set(reg.names("image")) == {n for n in reg.names() if reg.get(n).modality == "image"}


def test_task_registry_unknown_task_did_you_mean():
    with pytest.raises(UnknownNameError) as info:
        TaskRegistry().get("sst3")
    assert "unknown task 'sst3'" in str(info.value)
    assert "Did you mean 'sst2'" in str(info.value)


def test_task_registry_include_path(tmp_path):
    _write(tmp_path / "extra" / "my_task.yaml", _card("my_task"))
    reg = TaskRegistry([tmp_path / "extra"])
    assert "my_task" in reg and "sst2" in reg
    assert reg.get("my_task").path == tmp_path / "extra" / "my_task.yaml"
    assert "my_task" not in TaskRegistry()


def test_task_registry_duplicate_task_name_is_an_error(tmp_path):
    dup = _write(tmp_path / "extra" / "clash.yaml", _card("sst2"))
    with pytest.raises(CardErrors) as info:
        TaskRegistry([tmp_path / "extra"])
    (problem,) = info.value.problems
    assert str(dup) in problem and "field 'name'" in problem
    assert "task 'sst2' is already defined in" in problem and "sst2.yaml" in problem


def test_task_registry_missing_include_path(tmp_path):
    with pytest.raises(CardErrors, match="no such file or folder"):
        TaskRegistry([tmp_path / "nope"])


def test_card_files_skip_suites_and_generators(tmp_path):
    _write(tmp_path / "a.yaml", _card("a"))
    _write(tmp_path / "sub" / "b.yml", _card("b"))
    _write(tmp_path / "suites" / "s.yaml", {"name": "s"})
    _write(tmp_path / "generators" / "g.yaml", {"x": 1})
    (tmp_path / "gen.py").write_text("")
    assert card_files(tmp_path) == [tmp_path / "a.yaml", tmp_path / "sub" / "b.yml"]
    assert card_files(tmp_path / "a.yaml") == [tmp_path / "a.yaml"]
    # the built-in folder: suites are not cards
    assert not any("suites" in p.parts for p in card_files(builtin_tasks_dir()))


def test_include_path_takes_several_folders_as_data_dir_does(tmp_path):
    """`--include_path a:b` failed while `--data_dir` takes ':'."""
    import os

    from harness.taskregistry import TaskRegistry

    first, second = tmp_path / "a", tmp_path / "b"
    for folder, name in ((first, "extra_one"), (second, "extra_two")):
        folder.mkdir()
        (folder / f"{name}.yaml").write_text(
            f"include: {_builtin_card_path('synth_text_near')}\nname: {name}\n"
        )
    reg = TaskRegistry([f"{first}{os.pathsep}{second}"])
    assert {"extra_one", "extra_two"} <= set(reg.names())
    assert "extra_one" in TaskRegistry(str(first)).names()


def _builtin_card_path(name):
    from harness.taskregistry import builtin_tasks_dir

    return next(builtin_tasks_dir().rglob(f"{name}.yaml"))
