"""Suites: a named grid (backbones, sources, targets, methods with settings, fractions, seeds,
budgets) in `tasks/suites/*.yaml`, expanded into run specs. Command line > YAML > defaults."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

from harness.backbones import BACKBONES, BackboneSpec, resolve_modality, weights_path
from harness.cards import read_yaml
from harness.errors import ConfigError
from harness.methods import discover_methods
from harness.registry import Registry, did_you_mean
from harness.spec import Budget, RunSpec, dataclass_from_dict
from harness.suite_fields import (
    Variant,
    as_list,
    layer_variants,
    parse_backbones,
    parse_flag,
    parse_fractions,
    parse_seeds,
    parse_sources,
    parse_task_set,
    sample_caps,
    similarity_measures,
    source_budgets,
    variant_budget,
    whole_number,
)
from harness.taskregistry import TaskRegistry, builtin_tasks_dir

SUITE_FIELDS = {
    "name",
    "description",
    "backbones",
    "sources",
    "targets",
    "methods",
    "fractions",
    "seeds",
    "budget",
    "source_budget",
    "source_seed",
    "limit",
    "task_set",
    "max_train_samples",
    "max_train_samples_per_task",
    "max_eval_samples",
    "max_test_samples",
    "similarity",
    "similarity_method",
    "self_sources",
}
DEFAULTS: dict[str, Any] = {
    "sources": [[]],
    "methods": {"scratch": {}, "feature_extraction": {}, "finetune": {}},
    "fractions": [1.0],
    "seeds": [0],
    "budget": {},
    "source_budget": {},
    "source_seed": 0,
    "limit": None,
    "description": "",
    "self_sources": False,
}


DEFAULT_BACKBONES = {
    "text": {"name": "bert-tiny", "max_length": 64},
    "image": {"name": "resnet-tiny"},
}


def suites_dir() -> Path:
    return builtin_tasks_dir() / "suites"


def suite_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(suites_dir().glob("*.yaml"))}


def describe_suites() -> list[dict[str, Any]]:
    rows = []
    for name, path in suite_files().items():
        d = read_yaml(path)
        rows.append(
            {
                "name": name,
                "targets": len(d.get("targets", [])),
                "methods": ",".join(d.get("methods", {})),
                "fractions": ",".join(map(str, d.get("fractions", []))),
                "seeds": len(d.get("seeds", [])),
                "description": d.get("description", ""),
            }
        )
    return rows


def load_suite(
    name: str | None = None, config: str | Path | None = None
) -> tuple[dict[str, Any], str]:
    """The suite mapping from a name in `tasks/suites/` or a file; returns (mapping, where)."""
    if config:
        path = Path(config)
    else:
        files = suite_files()
        if name not in files:
            raise ConfigError(
                f"unknown suite '{name}'.{did_you_mean(str(name), list(files))} Known: {', '.join(files)}"
            )
        path = files[name]
    data = read_yaml(path)
    for key in data:
        if key not in SUITE_FIELDS:
            raise ConfigError(
                f"{path}: field '{key}': unknown suite field.{did_you_mean(key, sorted(SUITE_FIELDS))}"
            )
    data.setdefault("name", path.stem)
    return data, str(path)


def resolve_suite(data: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Merge defaults < YAML < command line into the resolved suite (saved beside the results)."""
    resolved = {**DEFAULTS, **data}
    for key in ("budget", "source_budget"):
        if resolved.get(key) is None:
            resolved[key] = {}
        if not isinstance(resolved[key], dict):
            raise ConfigError(
                f"{where}: field '{key}': expected a mapping of budget values, got {resolved[key]!r}"
            )
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("budget", "source_budget"):
            resolved[key] = {**resolved.get(key, {}), **value}
            if key == "budget":  # command-line budget flags win over every method's own settings
                resolved["budget_overrides"] = dict(value)
        elif key == "methods":
            chosen = as_list(value, str, "command line", "--methods")
            known = resolved.get("methods") or {}
            resolved["methods"] = {m: known.get(m, {}) for m in chosen}
        else:
            resolved[key] = value
    if not resolved.get("targets"):
        raise ConfigError(
            f"{where}: field 'targets': a suite needs at least one target (or pass --targets)"
        )
    return resolved


@dataclasses.dataclass
class Grid:
    """A suite's axes, read and checked: what `expand` crosses into run specs."""

    targets: list[str]
    source_sets: list[list[str]]
    task_set: list[str]
    variants: dict[str, Variant]
    variant_targets: dict[str, set[str]]  # a variant run on some of the targets only
    backbones: list[BackboneSpec]
    modality: dict[str, str]  # backbone name -> modality
    fractions: list[float]
    seeds: list[int]
    source_budget_of: dict[str, dict[str, Any]]  # variant -> the budget its sources train with
    source_seed: int
    limit: int | None
    caps: dict[str, Any]
    where: str = "suite"
    # a target also runs from the encoder trained on itself (Yosinski's selffer networks, BnB)
    self_sources: bool = False

    def fraction_tasks(self, variant: str) -> tuple[str, ...]:
        # the variant's targets inside the task set get, in the multi-task phase, the rows of
        # a single-task run at the same fraction and seed (RunSpec.fraction_tasks)
        return tuple(
            sorted(set(self.variant_targets.get(variant, self.targets)) & set(self.task_set))
        )


def expand(resolved: dict[str, Any], registry: TaskRegistry, where: str = "suite") -> list[RunSpec]:
    """Every run of the grid. Names are checked before anything runs (with a did-you-mean).

    A suite without `backbones` gets the small preset of each target modality (written into
    `resolved`, which is saved beside the results). Each target pairs with the backbones and
    sources of its own modality; `scratch`-like
    methods (which use no source) run once per target instead of once per source.
    """
    methods = discover_methods()
    similarity_measures(resolved.get("similarity"), where)  # checked before anything runs
    targets = as_list(resolved["targets"], str, where, "targets")
    source_sets = parse_sources(resolved["sources"], where)
    for name in targets + [s for ss in source_sets for s in ss]:
        registry.get(name)
    task_set = parse_task_set(resolved.get("task_set"), registry, where)
    variants, variant_targets = _method_variants(resolved, methods, targets, task_set, where)
    _check_similarity_method(resolved.get("similarity_method"), variants, where)
    backbones, modality = _resolve_backbones(resolved, registry, targets, where)
    fractions = parse_fractions(resolved["fractions"], where)
    seeds = parse_seeds(resolved["seeds"], where)
    Budget.from_dict(resolved.get("budget"), f"{where}: budget")
    source_budget_of = source_budgets(resolved, variants, methods, where)
    limit = whole_number(resolved.get("limit"), where, "limit", minimum=1)
    source_seed = whole_number(resolved.get("source_seed", 0), where, "source_seed", minimum=0) or 0
    grid = Grid(
        targets=targets,
        source_sets=source_sets,
        task_set=task_set,
        variants=variants,
        variant_targets=variant_targets,
        backbones=backbones,
        modality=modality,
        fractions=fractions,
        seeds=seeds,
        source_budget_of=source_budget_of,
        source_seed=source_seed,
        limit=limit,
        caps=sample_caps(resolved, registry, where),
        where=where,
        self_sources=parse_flag(resolved.get("self_sources"), where, "self_sources"),
    )
    specs = _grid_specs(grid, registry, methods)
    if not specs:
        raise ConfigError(
            f"{where}: the grid is empty: {_why_empty(targets, backbones, modality, source_sets, registry)}"
        )
    return specs


def _method_variants(
    resolved: dict[str, Any],
    methods: Registry,
    targets: list[str],
    task_set: list[str],
    where: str,
) -> tuple[dict[str, Variant], dict[str, set[str]]]:
    """The suite's `methods` as variants (method, config, budget), and the targets of the
    variants limited to some of them."""
    variants: dict[str, Variant] = {}
    variant_targets: dict[str, set[str]] = {}
    method_map = resolved["methods"]
    if isinstance(method_map, list):
        method_map = {m: {} for m in method_map}
    if not isinstance(method_map, dict) or not method_map:
        raise ConfigError(
            f"{where}: field 'methods': expected method names or a mapping of variants, "
            f"got {method_map!r}"
        )
    for variant, settings in method_map.items():
        if settings is not None and not isinstance(settings, dict):
            raise ConfigError(
                f"{where}: method '{variant}': expected a mapping of settings, got {settings!r}"
            )
        settings = dict(settings or {})
        method_name = settings.pop("method", variant)
        own_budget = settings.pop("budget", None)
        only = settings.pop("targets", None)
        if only is not None:
            variant_targets[variant] = _variant_targets(
                only, targets, f"{where}: method '{variant}'"
            )
        if own_budget is not None and not isinstance(own_budget, dict):
            raise ConfigError(f"{where}: method '{variant}': field 'budget': expected a mapping")
        cls = methods.get(method_name)
        cfg = dataclass_from_dict(cls.Config, settings, f"{where}: method '{variant}'")
        if getattr(cls, "multi_task", False) and not task_set:
            raise ConfigError(
                f"{where}: method '{variant}' ({method_name}) trains on a task set: give the suite "
                "a 'task_set' (task names or tag:<tag>)"
            )
        budget = variant_budget(cls, resolved, own_budget, f"{where}: method '{variant}': budget")
        variants[variant] = (method_name, dataclasses.asdict(cfg), budget)
    return variants, variant_targets


def _variant_targets(only: Any, targets: list[str], where: str) -> set[str]:
    """A variant's own `targets`: some of the suite's."""
    only = as_list(only, str, where, "targets")
    outside = [x for x in only if x not in targets]
    if outside:
        raise ConfigError(
            f"{where}: field 'targets': {outside} are not among the suite's targets {targets}"
        )
    return set(only)


def _check_similarity_method(chosen: Any, variants: dict[str, Variant], where: str) -> None:
    """`similarity_method`, when set, names a method of the suite."""
    if chosen is not None and chosen not in {m for m, _, _ in variants.values()}:
        used = sorted({m for m, _, _ in variants.values()})
        raise ConfigError(
            f"{where}: field 'similarity_method': {chosen!r} is not a method of this suite "
            f"({', '.join(used)}); the measures are set against that method's gains"
        )


def _resolve_backbones(
    resolved: dict[str, Any], registry: TaskRegistry, targets: list[str], where: str
) -> tuple[list[BackboneSpec], dict[str, str]]:
    """The suite's backbones (the small presets of the targets' modalities when none is given,
    written into `resolved`) and each one's modality; an unknown backbone is an error now."""
    if not resolved.get("backbones"):  # the small presets of the targets' modalities
        modalities = sorted({registry.get(t).modality for t in targets})
        resolved["backbones"] = [DEFAULT_BACKBONES[m] for m in modalities]
    backbones = parse_backbones(resolved["backbones"], where)
    modality = {}
    for bb in backbones:
        if not bb.is_preset and "/" not in bb.name and not Path(bb.location).exists():
            raise ConfigError(
                f"unknown backbone '{bb.name}'.{did_you_mean(bb.name, BACKBONES.names())} "
                f"Presets: {', '.join(BACKBONES.names())}; or a Hub name / local path"
            )
        modality[bb.name] = resolve_modality(bb)
        weights_path(bb)  # a registered module's weights: missing is an error now, not per run
    return backbones, modality


def _grid_specs(grid: Grid, registry: TaskRegistry, methods: Registry) -> list[RunSpec]:
    """The run specs of the grid: per target, each backbone and source set of its modality."""
    specs = []
    for target in grid.targets:
        card = registry.get(target)
        for bb in (b for b in grid.backbones if grid.modality[b.name] == card.modality):
            usable = [
                ss
                for ss in grid.source_sets
                if all(
                    registry.get(s).modality == card.modality and (s != target or grid.self_sources)
                    for s in ss
                )
            ]
            for name, (method_name, config, budget) in grid.variants.items():
                if target not in grid.variant_targets.get(name, {target}):
                    continue
                cls = methods.get(method_name)
                multi = getattr(cls, "multi_task", False)
                if multi and registry.get(grid.task_set[0]).modality != card.modality:
                    continue
                src_sets = usable if cls.uses_sources else [[]]
                for (variant, cfg), sources in itertools.product(
                    layer_variants(name, config, bb, cls.layer_settings, grid.where),
                    src_sets,
                ):
                    tasks = [target, *sources, *(grid.task_set if multi else [])]
                    versions = {n: registry.get(n).content_hash for n in tasks}
                    for fraction in grid.fractions:
                        for seed in grid.seeds:
                            specs.append(
                                RunSpec(
                                    backbone=bb.to_dict(),
                                    sources=tuple(sources),
                                    method=method_name,
                                    variant=variant,
                                    method_config=cfg,
                                    target=target,
                                    fraction=fraction,
                                    seed=seed,
                                    budget=budget,
                                    source_budget=grid.source_budget_of[name],
                                    source_seed=grid.source_seed,
                                    limit=grid.limit,
                                    task_versions=versions,
                                    task_set=tuple(grid.task_set) if multi else (),
                                    fraction_tasks=grid.fraction_tasks(name) if multi else (),
                                    **grid.caps,
                                )
                            )
    return specs


def _why_empty(
    targets: list[str],
    backbones: list[Any],
    modality: dict[str, str],
    source_sets: list[list[str]],
    registry: TaskRegistry,
) -> str:
    """What left a suite with no runs, in words."""
    reasons = []
    for target in targets:
        card = registry.get(target)
        if not any(modality[b.name] == card.modality for b in backbones):
            reasons.append(f"no backbone reads target '{target}' ({card.modality})")
            continue
        for ss in source_sets:
            for s in ss:
                if s == target:
                    reasons.append(f"target '{target}' is its own source")
                elif registry.get(s).modality != card.modality:
                    reasons.append(
                        f"source '{s}' ({registry.get(s).modality}) cannot feed target "
                        f"'{target}' ({card.modality})"
                    )
    return "; ".join(dict.fromkeys(reasons)) or "no method, target and source combine into a run"
