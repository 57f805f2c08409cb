"""One small registry class used for tasks, methods, backbones, metrics and measures."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from harness.errors import ConfigError, UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ' Did you mean ...?' suffix for an unknown name, or '' when nothing is close."""
    name = str(name)  # YAML keys may be ints or booleans
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if not close:
        lowered = [c for c in choices if name.lower() in c.lower()]
        close = lowered[:3]
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def import_object(ref: str) -> Any:
    """Import `module.path:attr` (lazy registry entries, generator functions)."""
    if ":" not in ref:
        raise ConfigError(f"'{ref}' is not of the form 'module.path:attribute'")
    module_name, attr = ref.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module '{module_name}' (from '{ref}'): {exc}") from exc
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ConfigError(f"module '{module_name}' has no attribute '{attr}'") from exc
    return obj


class Registry(Generic[T]):
    """Maps names to objects. Duplicate names are errors; unknown names get a suggestion.

    Entries may be lazy `"module:attr"` strings, imported on first `get`.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | T | str:
        """Register `obj` under `name`, or use as a decorator when `obj` is omitted."""
        if obj is not None:
            self._add(name, obj)
            return obj

        def decorator(target: T) -> T:
            self._add(name, target)
            return target

        return decorator

    def _add(self, name: str, obj: T | str) -> None:
        if name in self._entries and self._entries[name] is not obj:
            raise ConfigError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'.{did_you_mean(name, sorted(self._entries))}"
                f" Known: {', '.join(sorted(self._entries)) or '(none)'}"
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_object(entry)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._entries)
        return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
