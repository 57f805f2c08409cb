"""Methods from outside the package: a Python file (`--include my_method.py`), a module named in
`$TRANSFERBENCH_PLUGINS`, or an installed distribution's entry points in the group
`transferbench.methods` (`[project.entry-points."transferbench.methods"] l2sp = "pkg.l2sp"`).

Importing a plug-in runs its `@register_method`; the registry then knows it by name like a
built-in method. Each plug-in file's sha256 is kept (`plugin_sources`), so records can say
exactly which code a plug-in method ran.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

_loaded_files: dict[Path, str] = {}  # resolved file -> module name


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_method_file(path: str | Path) -> list[str]:
    """Import a Python file that registers methods; returns the names it registered. Loading
    the same file twice is a no-op (its methods stay registered)."""
    from harness.methods import METHODS, discover_methods

    discover_methods()  # built-ins first, so a clash names the built-in
    file = Path(path).expanduser()
    if file.suffix != ".py":
        raise ConfigError(f"--include {path}: expected a Python file (.py) that registers a method")
    if not file.is_file():
        raise ConfigError(f"--include {path}: no such file")
    file = file.resolve()
    if file in _loaded_files:
        return [n for n, m in _methods_by_module(METHODS).items() if m == _loaded_files[file]]
    module_name = (
        f"transferbench_plugin_{file.stem}_{hashlib.sha1(str(file).encode()).hexdigest()[:8]}"
    )
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    before = set(METHODS.names())
    try:
        spec.loader.exec_module(module)
    except ConfigError as exc:
        del sys.modules[module_name]
        raise ConfigError(f"--include {path}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - user code: any failure is reported, with its type
        del sys.modules[module_name]
        raise ConfigError(
            f"--include {path}: importing it failed: {type(exc).__name__}: {exc}"
        ) from exc
    except SystemExit as exc:  # a plug-in that exits at import ended transferbench, silently
        del sys.modules[module_name]
        raise ConfigError(f"--include {path}: importing it called sys.exit({exc.code!r})") from None
    added = sorted(set(METHODS.names()) - before)
    if not added:
        raise ConfigError(
            f"--include {path}: the file registers no method (decorate a Method "
            "subclass with @register_method, from harness.methods)"
        )
    _loaded_files[file] = module_name
    return added


def _methods_by_module(registry: Any) -> dict[str, str]:
    out = {}
    for name in registry.names():
        out[name] = getattr(registry.get(name), "__module__", "")
    return out


def method_source(cls: type) -> dict[str, Any]:
    """Where a method's code came from, for a record's provenance: its module, and for a
    plug-in file (or any module outside the package) the file and its sha256."""
    module = sys.modules.get(cls.__module__)
    out: dict[str, Any] = {"module": cls.__module__}
    file = getattr(module, "__file__", None)
    if file and not cls.__module__.startswith(("baselines.", "harness.")):
        out["file"] = str(file)
        out["sha256"] = file_digest(Path(file))
    return out


def included_files() -> list[str]:
    """The plug-in files loaded in this process (to hand to worker processes)."""
    return [str(p) for p in _loaded_files]
