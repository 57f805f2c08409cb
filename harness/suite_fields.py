"""The fields of a suite, each read and checked on its own: sources, lists, task sets, budgets,
backbones, similarity measures, fractions, seeds and row caps (`harness.suites` expands them)."""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.backbones import BackboneSpec, layer_group_count
from harness.errors import ConfigError
from harness.registry import Registry
from harness.spec import Budget, dataclass_from_dict
from harness.taskregistry import TaskRegistry

Variant = tuple[str, dict[str, Any], dict[str, Any]]  # (method, method config, budget)


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


def parse_backbones(value: Any, where: str) -> list[BackboneSpec]:
    """A suite's `backbones`: names or mappings (a name, a mapping, or a comma-separated string)."""
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


def whole_number(value: Any, where: str, fld: str, minimum: int) -> int | None:
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


def parse_flag(value: Any, where: str, fld: str) -> bool:
    """A true/false suite field."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: field '{fld}': expected true or false, got {value!r}")
    return value


def parse_fractions(value: Any, where: str) -> list[float]:
    """A suite's `fractions`: each in (0, 1]."""
    fractions = as_list(value, float, where, "fractions")
    for f in fractions:
        if not 0 < f <= 1:
            raise ConfigError(f"{where}: field 'fractions': {f} is not in (0, 1]")
    return fractions


def parse_seeds(value: Any, where: str) -> list[int]:
    """A suite's `seeds`: whole numbers >= 0 as written (not rounded), no duplicates."""
    raw_seeds = value
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
    seeds = as_list(value, int, where, "seeds")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(
            f"{where}: field 'seeds': duplicate seed(s) {repeated}: each seed is one run"
        )
    return seeds


def sample_caps(resolved: dict[str, Any], registry: TaskRegistry, where: str) -> dict[str, Any]:
    """The row caps of a suite (`max_*_samples`, `max_train_samples_per_task`) that are set."""
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
    return caps


def source_budgets(
    resolved: dict[str, Any], variants: dict[str, Variant], methods: Registry, where: str
) -> dict[str, dict[str, Any]]:
    """Per variant, the budget sources are trained with: the suite's budget < its
    source_budget; a multi-task method's own defaults sit below both, since its task-set phase
    is its own recipe."""
    source_budget_of = {}
    for variant, (method_name, _, _) in variants.items():
        cls = methods.get(method_name)
        own = getattr(cls, "budget_defaults", {}) if getattr(cls, "multi_task", False) else {}
        merged = {**own, **resolved.get("budget", {}), **resolved.get("source_budget", {})}
        source_budget_of[variant] = dataclasses.asdict(
            Budget.from_dict(merged, f"{where}: source_budget")
        )
    return source_budget_of


def layer_variants(
    variant: str,
    cfg: dict[str, Any],
    backbone: BackboneSpec,
    settings: tuple[str, str] | None,
    where: str,
) -> list[tuple[str, dict[str, Any]]]:
    """A variant as it runs on one backbone. For a method with `layer_settings` (one, every):
    `every: all` becomes one variant per layer (`name@1` .. `name@n`, with `one: k`), and a
    layer `one` beyond the backbone's n layer groups is an error now."""

    if settings is None:
        return [(variant, cfg)]
    one, every = settings
    if cfg.get(every) != "all" and not (cfg.get(one) or 0) > 0:
        return [(variant, cfg)]
    n = layer_group_count(backbone)
    if cfg.get(every) == "all":
        return [(f"{variant}@{k}", {**cfg, every: "", one: k}) for k in range(1, n + 1)]
    if cfg[one] > n:
        raise ConfigError(
            f"{where}: method '{variant}': {one} {cfg[one]} is out of range: backbone "
            f"'{backbone.name}' has {n} layer groups (layer 1 is the stem, {n} the last block)"
        )
    return [(variant, cfg)]
