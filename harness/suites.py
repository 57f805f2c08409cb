"""Suites: a named grid (backbones, sources, targets, methods with settings, fractions, seeds,
budgets) in `tasks/suites/*.yaml`, expanded into run specs. Command line > YAML > defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.backbones import BACKBONES, BackboneSpec, resolve_modality, weights_path
from harness.cards import read_yaml
from harness.errors import ConfigError
from harness.methods import discover_methods
from harness.registry import did_you_mean
from harness.spec import Budget, RunSpec, dataclass_from_dict
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


def parse_sources(value: Any, where: str) -> list[list[str]]:
    """Sources as a list of source sets: 'none' or [] is the base init; 'a+b' trains on a then b."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise ConfigError(f"{where}: field 'sources': expected a list")
    out = []
    for item in value:
        if item in (None, "none", [], ""):
            out.append([])
        elif isinstance(item, str):
            out.append([s for s in item.split("+") if s])
        elif isinstance(item, list) and all(isinstance(s, str) for s in item):
            out.append(list(item))
        else:
            raise ConfigError(f"{where}: field 'sources': bad entry {item!r}")
    return out


def as_list(value: Any, cast: type, where: str, fld: str) -> list:
    """A suite field as a list: a YAML list, or a comma-separated string (the command line)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: field '{fld}': expected a non-empty list")
    try:
        return [cast(v) for v in value]
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: field '{fld}': expected {cast.__name__} values, got {value!r}"
        ) from None


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


def parse_task_set(value: Any, registry: TaskRegistry, where: str) -> list[str]:
    """A task set: a list of task names, and/or `tag:<tag>` for every registered task with that
    tag (e.g. `tag:synthetic-text`). Names are checked; order is kept, duplicates dropped."""
    if value in (None, "", []):
        return []
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ConfigError(
            f"{where}: field 'task_set': expected a list of task names or 'tag:<tag>'"
        )
    names: list[str] = []
    for item in items:
        if item.startswith("tag:"):
            tagged = registry.names(item[4:])
            if not tagged:
                raise ConfigError(f"{where}: field 'task_set': no task has the tag '{item[4:]}'")
            names.extend(tagged)
        else:
            registry.get(item)
            names.append(item)
    names = list(dict.fromkeys(names))
    modalities = {registry.get(n).modality for n in names}
    if len(modalities) > 1:
        by = {m: [n for n in names if registry.get(n).modality == m] for m in sorted(modalities)}
        raise ConfigError(
            f"{where}: field 'task_set' mixes modalities ({by}); a shared encoder takes one"
        )
    return names


def variant_budget(
    method_cls: type, resolved: dict[str, Any], variant_budget: dict[str, Any] | None, where: str
) -> dict[str, Any]:
    """A variant's budget: Budget defaults < the method's own defaults < the suite's `budget` <
    the variant's `budget:` < budget flags on the command line."""
    merged = {
        **getattr(method_cls, "budget_defaults", {}),
        **resolved.get("budget", {}),
        **(variant_budget or {}),
        **resolved.get("budget_overrides", {}),
    }
    return dataclasses.asdict(Budget.from_dict(merged, where))


def _backbones(value: Any, where: str) -> list[BackboneSpec]:
    if isinstance(value, (str, dict)):
        value = (
            [value]
            if isinstance(value, dict)
            else [v.strip() for v in value.split(",") if v.strip()]
        )
    if not isinstance(value, list):
        raise ConfigError(
            f"{where}: field 'backbones': expected a list of backbones, got {value!r}"
        )
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, (str, dict)):
            raise ConfigError(
                f"{where}: field 'backbones[{i}]': expected a name or a mapping, got {item!r}"
            )
        item = {"name": item} if isinstance(item, str) else dict(item)
        out.append(dataclass_from_dict(BackboneSpec, item, f"{where}: backbone"))
    return out


def similarity_measures(value: Any, where: str) -> list[str]:
    """A suite's `similarity`: measures computed after its runs (`cheap`, `all` or names)."""
    from harness.similarity.registry import discover_measures

    if value in (None, "", []):
        return []
    reg = discover_measures()
    if value == "cheap":
        return [n for n in reg.names() if reg.get(n).cheap]
    if value == "all":
        return reg.names()
    names = as_list(value, str, where, "similarity")
    for n in names:
        reg.get(n)
    return names


def _whole_number(value: Any, where: str, fld: str, minimum: int) -> int | None:
    """A whole-number field (None when unset): a string from the command line is read."""
    if value in (None, ""):
        return None
    try:
        number = (
            int(value)
            if not isinstance(value, bool) and float(value) == int(float(value))
            else None
        )
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise ConfigError(
            f"{where}: field '{fld}': expected a whole number >= {minimum}, got {value!r}"
        )
    return number


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
    variants: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    variant_targets: dict[str, set[str]] = {}  # a variant run on some of the targets only
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
            only = as_list(only, str, f"{where}: method '{variant}'", "targets")
            outside = [x for x in only if x not in targets]
            if outside:
                raise ConfigError(
                    f"{where}: method '{variant}': field 'targets': {outside} are not among the "
                    f"suite's targets {targets}"
                )
            variant_targets[variant] = set(only)
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
    chosen = resolved.get("similarity_method")
    if chosen is not None and chosen not in {m for m, _, _ in variants.values()}:
        used = sorted({m for m, _, _ in variants.values()})
        raise ConfigError(
            f"{where}: field 'similarity_method': {chosen!r} is not a method of this suite "
            f"({', '.join(used)}); the measures are set against that method's gains"
        )
    if not resolved.get("backbones"):  # the small presets of the targets' modalities
        modalities = sorted({registry.get(t).modality for t in targets})
        resolved["backbones"] = [DEFAULT_BACKBONES[m] for m in modalities]
    backbones = _backbones(resolved["backbones"], where)
    modality = {}
    for bb in backbones:
        if not bb.is_preset and "/" not in bb.name and not Path(bb.location).exists():
            raise ConfigError(
                f"unknown backbone '{bb.name}'.{did_you_mean(bb.name, BACKBONES.names())} "
                f"Presets: {', '.join(BACKBONES.names())}; or a Hub name / local path"
            )
        modality[bb.name] = resolve_modality(bb)
        weights_path(bb)  # a registered module's weights: missing is an error now, not per run
    fractions = as_list(resolved["fractions"], float, where, "fractions")
    for f in fractions:
        if not 0 < f <= 1:
            raise ConfigError(f"{where}: field 'fractions': {f} is not in (0, 1]")
    raw_seeds = resolved["seeds"]
    if isinstance(raw_seeds, str):
        raw_seeds = [v.strip() for v in raw_seeds.split(",") if v.strip()]
    for s in raw_seeds if isinstance(raw_seeds, list) else []:
        whole = isinstance(s, int) and not isinstance(s, bool)
        if isinstance(s, str):
            whole = s.lstrip("-").isdigit()
        if not whole or int(s) < 0:
            raise ConfigError(
                f"{where}: field 'seeds': {s!r} is not a whole number >= 0 (a seed is not rounded)"
            )
    seeds = as_list(resolved["seeds"], int, where, "seeds")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(
            f"{where}: field 'seeds': duplicate seed(s) {repeated}: each seed is one run"
        )
    Budget.from_dict(resolved.get("budget"), f"{where}: budget")
    # the budget sources are trained with: the suite's budget < its source_budget; a multi-task
    # method's own defaults sit below both, since its task-set phase is its own recipe
    source_budget_of = {}
    for variant, (method_name, _, _) in variants.items():
        cls = methods.get(method_name)
        own = getattr(cls, "budget_defaults", {}) if getattr(cls, "multi_task", False) else {}
        merged = {**own, **resolved.get("budget", {}), **resolved.get("source_budget", {})}
        source_budget_of[variant] = dataclasses.asdict(
            Budget.from_dict(merged, f"{where}: source_budget")
        )
    limit = _whole_number(resolved.get("limit"), where, "limit", minimum=1)
    source_seed = (
        _whole_number(resolved.get("source_seed", 0), where, "source_seed", minimum=0) or 0
    )
    caps = {}
    for key in ("max_train_samples", "max_eval_samples", "max_test_samples"):
        value = resolved.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"{where}: field '{key}': expected a positive whole number, got {value!r}"
            )
        caps[key] = value
    per_task = resolved.get("max_train_samples_per_task") or {}
    if not isinstance(per_task, dict):
        raise ConfigError(
            f"{where}: field 'max_train_samples_per_task': expected a mapping task -> rows, "
            f"got {per_task!r}"
        )
    for name, value in per_task.items():
        registry.get(name)  # an unknown task is an error naming it
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"{where}: field 'max_train_samples_per_task': '{name}': expected a positive "
                f"whole number, got {value!r}"
            )
    if per_task:
        caps["max_train_samples_per_task"] = dict(sorted(per_task.items()))

    def fraction_tasks(variant: str) -> tuple[str, ...]:
        # the variant's targets inside the task set get, in the multi-task phase, the rows of
        # a single-task run at the same fraction and seed (RunSpec.fraction_tasks)
        return tuple(sorted(set(variant_targets.get(variant, targets)) & set(task_set)))

    specs = []
    for target in targets:
        card = registry.get(target)
        for bb in (b for b in backbones if modality[b.name] == card.modality):
            usable = [
                ss
                for ss in source_sets
                if all(registry.get(s).modality == card.modality and s != target for s in ss)
            ]
            for variant, (method_name, cfg, budget) in variants.items():
                if target not in variant_targets.get(variant, {target}):
                    continue
                cls = methods.get(method_name)
                multi = getattr(cls, "multi_task", False)
                if multi and registry.get(task_set[0]).modality != card.modality:
                    continue
                src_sets = usable if cls.uses_sources else [[]]
                for sources in src_sets:
                    tasks = [target, *sources, *(task_set if multi else [])]
                    versions = {n: registry.get(n).content_hash for n in tasks}
                    for fraction in fractions:
                        for seed in seeds:
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
                                    source_budget=source_budget_of[variant],
                                    source_seed=source_seed,
                                    limit=limit,
                                    task_versions=versions,
                                    task_set=tuple(task_set) if multi else (),
                                    fraction_tasks=fraction_tasks(variant) if multi else (),
                                    **caps,
                                )
                            )
    if not specs:
        raise ConfigError(
            f"{where}: the grid is empty: {_why_empty(targets, backbones, modality, source_sets, registry)}"
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
