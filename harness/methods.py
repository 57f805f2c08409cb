"""Transfer methods: a class with a config dataclass, registered by name.

A method lives in one file in `baselines/` — or outside the package: a file given to
`--include`, a module in `$TRANSFERBENCH_PLUGINS`, an installed entry point in the group
`transferbench.methods` (`harness/plugins.py`) — and registers itself with `@register_method`.
It receives a `RunContext` (the target's data, the encoder factory, the accelerator, caches,
budget and seed) and returns a `MethodResult`. Its `test_settings` say how the registry-driven
test checks that it learns (`tests/test_methods_learn.py`); a method without them fails it.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import ConfigError
from harness.registry import Registry
from harness.spec import dataclass_from_dict

if TYPE_CHECKING:
    from harness.context import RunContext
    from harness.training import TrainResult

METHODS: Registry[type[Method]] = Registry("method")
_discovered = False


@dataclass
class MethodConfig:
    """Settings every method has; subclasses add their own."""

    head_hidden: int = 0  # 0: linear head; >0: one hidden layer of this size
    head_dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.head_hidden < 0:
            raise ValueError(f"head_hidden must be >= 0, got {self.head_hidden}")
        if not 0 <= self.head_dropout < 1:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")


@dataclass
class MethodResult:
    """What a method hands back to the runner for the run record."""

    train: TrainResult
    extra: dict[str, Any] = field(default_factory=dict)


class Method:
    """Base class: set `name`, `Config` and `uses_sources`, implement `run`.

    `budget_defaults` are the method's own budget values (e.g. a learning rate): they sit
    above the `Budget` defaults and below the suite's `budget`, the variant's `budget:` and
    the command line. A `multi_task` method trains on the suite's `task_set` (the spec's
    `task_set`) before its target. `prepare` trains what runs share (sources, task-set
    models, teachers) in a phase the runner schedules before the runs."""

    name: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    uses_sources: ClassVar[bool] = True
    multi_task: ClassVar[bool] = False
    # (one-layer setting, all-layers setting) of a method whose Config names a layer of the
    # backbone: an int (1..n, counted as `copy_first_n` counts layer groups) and a str whose
    # value "all" makes one variant per layer (`name@k`); the suite expands and range-checks
    # them per backbone. E.g. ("layer", "layers") for `feature_extraction`.
    layer_settings: ClassVar[tuple[str, str] | None] = None
    budget_defaults: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""
    # how the registry-driven test checks that it learns: a tiny suite on synthetic tasks
    # (`LearningCheck` fields); None fails that test, loudly
    test_settings: ClassVar[dict[str, Any] | None] = None

    def __init__(self, config: MethodConfig):
        self.config = config

    @classmethod
    def from_settings(cls, settings: dict[str, Any], where: str) -> Method:
        return cls(dataclass_from_dict(cls.Config, settings, where))

    def prepare(self, ctx: RunContext) -> None:
        """Train what this run shares with other runs, before any run starts (the runner's
        preparation phase): by default the encoder trained on the spec's sources. Everything
        prepared goes through the cache, so `run` finds it there."""
        if self.uses_sources and ctx.spec.sources:
            ctx.encoders.source()

    def run(self, ctx: RunContext) -> MethodResult:
        raise NotImplementedError


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: register a method under its `name`."""
    METHODS.register(cls.name, cls)
    return cls


def discover_methods() -> Registry[type[Method]]:
    """Import every module in `baselines/` and in `$TRANSFERBENCH_PLUGINS` (comma-separated)."""
    global _discovered
    if not _discovered:
        import baselines

        for info in pkgutil.iter_modules(baselines.__path__):
            importlib.import_module(f"baselines.{info.name}")
        _discovered = True  # before plug-ins: they call back in through `register_method`
        for mod in filter(None, os.environ.get("TRANSFERBENCH_PLUGINS", "").split(",")):
            try:
                importlib.import_module(mod.strip())
            except ImportError as exc:
                raise ConfigError(
                    f"$TRANSFERBENCH_PLUGINS: cannot import '{mod.strip()}': {exc}"
                ) from exc
        load_entry_points()
    return METHODS


def get_method(name: str) -> type[Method]:
    return discover_methods().get(name)


def describe_methods() -> list[dict[str, Any]]:
    rows = []
    for name in discover_methods().names():
        cls = METHODS.get(name)
        defaults = dataclasses.asdict(cls.Config())
        settings = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        rows.append(
            {
                "name": name,
                "uses sources": "yes" if cls.uses_sources else "no",
                "description": cls.description,
                "settings (defaults)": settings,
            }
        )
    return rows


ENTRY_POINT_GROUP = "transferbench.methods"


def load_entry_points() -> list[str]:
    """Import every installed `transferbench.methods` entry point (a module, or module:object)."""
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", "?")
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in is named, never a traceback
            raise ConfigError(
                f"entry point '{ep.name} = {ep.value}' (group {ENTRY_POINT_GROUP}, "
                f"distribution {dist}) failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        loaded.append(ep.name)
    return loaded
