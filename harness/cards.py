"""Task cards: one YAML file per task, validated on load, with `include:` inheritance."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import CardErrors, ConfigError
from harness.registry import did_you_mean

MODALITIES = ("text", "image")
PROBLEMS = ("classification", "regression")
DIRECTIONS = ("max", "min")
SPLIT_ROLES = ("train", "validation", "test")
SOURCE_KINDS = ("hub", "local", "generator")
TOP_LEVEL_FIELDS = {
    "name", "version", "description", "modality", "problem", "inputs", "label", "label_names",
    "splits", "validation_fraction", "metrics", "primary_metric", "direction", "tags", "data",
    "include", "citation", "license",
}  # fmt: skip
REQUIRED_FIELDS = ("name", "version", "modality", "problem", "inputs", "label", "splits",
                   "metrics", "primary_metric", "direction", "data")  # fmt: skip


@dataclass(frozen=True)
class TaskCard:
    """A validated task card. `raw` is the merged YAML mapping it came from."""

    name: str
    version: int | str
    modality: str
    problem: str
    inputs: dict[str, str]
    label: str
    label_names: tuple[str, ...]
    splits: dict[str, str | None]
    metrics: tuple[str, ...]
    primary_metric: str
    direction: str
    data: dict[str, Any]
    tags: tuple[str, ...] = ()
    description: str = ""
    validation_fraction: float = 0.1
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_labels(self) -> int:
        """Output size of the head: 1 for regression."""
        return 1 if self.problem == "regression" else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return "text_pair" in self.inputs

    @property
    def input_columns(self) -> list[str]:
        return list(self.inputs.values())

    @property
    def source_kinds(self) -> list[str]:
        return [k for k in SOURCE_KINDS if k in self.data]

    @property
    def content_hash(self) -> str:
        """Hash of everything that defines the task (not its file location)."""
        blob = json.dumps({k: v for k, v in self.raw.items() if k != "include"}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe_sources(self) -> str:
        parts = []
        if "hub" in self.data:
            parts.append(f"hub:{self.data['hub'].get('path')}")
        for spec in self.data.get("local", []):
            parts.append(f"local:{spec.get('format')}")
        if "generator" in self.data:
            parts.append("generator")
        return ", ".join(dict.fromkeys(parts))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; lists and scalars in `override` replace those in `base`."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning parse errors into errors that name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from exc
    if data is None:
        raise ConfigError(f"{path}: file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    return data


def resolve_includes(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load a card file and merge it over the cards it `include:`s (relative to its folder)."""
    path = Path(path).resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"{path}: field 'include': include cycle: {chain}")
    data = read_yaml(path)
    include = data.get("include")
    if include is None:
        return data
    includes = [include] if isinstance(include, str) else include
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{path}: field 'include': expected a file name or a list of them")
    merged: dict[str, Any] = {}
    for inc in includes:
        inc_path = (path.parent / inc).resolve()
        if not inc_path.exists():
            raise ConfigError(f"{path}: field 'include': file '{inc}' not found ({inc_path})")
        merged = deep_merge(merged, resolve_includes(inc_path, (*seen, path)))
    own = {k: v for k, v in data.items() if k != "include"}
    return deep_merge(merged, own)


def validate_card_dict(data: dict[str, Any], where: str) -> list[str]:
    """Return every problem with a merged card mapping, each naming the file and field."""
    from harness.metrics import METRICS  # local import: metrics pull in nothing heavy

    problems: list[str] = []

    def bad(fld: str, msg: str) -> None:
        problems.append(f"{where}: field '{fld}': {msg}")

    for key in data:
        if key not in TOP_LEVEL_FIELDS:
            bad(key, f"unknown field.{did_you_mean(key, sorted(TOP_LEVEL_FIELDS))}")
    for key in REQUIRED_FIELDS:
        if key not in data:
            bad(key, "missing required field")
    name = data.get("name")
    if "name" in data and (not isinstance(name, str) or not name.strip()):
        bad("name", "must be a non-empty string")
    modality = data.get("modality")
    if "modality" in data and modality not in MODALITIES:
        bad("modality", f"must be one of {', '.join(MODALITIES)}, got {modality!r}")
    problem = data.get("problem")
    if "problem" in data and problem not in PROBLEMS:
        bad("problem", f"must be one of {', '.join(PROBLEMS)}, got {problem!r}")

    inputs = data.get("inputs")
    if "inputs" in data:
        if not isinstance(inputs, dict) or not inputs:
            bad("inputs", "must map input roles (text, text_pair, image) to column names")
        else:
            allowed = {"text": ("text", "text_pair"), "image": ("image",)}.get(modality, ())
            for role, col in inputs.items():
                if allowed and role not in allowed:
                    bad(
                        f"inputs.{role}",
                        f"not an input role for modality {modality!r}; use {', '.join(allowed)}",
                    )
                if not isinstance(col, str) or not col:
                    bad(f"inputs.{role}", "must be a column name")
            if modality == "text" and "text" not in inputs:
                bad("inputs.text", "a text task needs a 'text' column")
            if modality == "image" and "image" not in inputs:
                bad("inputs.image", "an image task needs an 'image' column")

    if "label" in data and not isinstance(data.get("label"), str):
        bad("label", "must be a column name")
    label_names = data.get("label_names")
    if problem == "classification":
        if not isinstance(label_names, list) or len(label_names) < 2:
            bad("label_names", "a classification task needs a list of at least two label names")
        elif len(set(map(str, label_names))) != len(label_names):
            bad("label_names", "label names must be unique")
    elif problem == "regression" and label_names:
        bad("label_names", "a regression task has no label names")

    splits = data.get("splits")
    if "splits" in data:
        if not isinstance(splits, dict):
            bad("splits", "must map train/validation/test to split names")
        else:
            for role in splits:
                if role not in SPLIT_ROLES:
                    bad(
                        f"splits.{role}",
                        f"unknown split role.{did_you_mean(role, list(SPLIT_ROLES))}",
                    )
            for role in ("train", "test"):
                if not splits.get(role):
                    bad(
                        f"splits.{role}",
                        "missing: a card names its training split and the split it is scored on",
                    )
    vf = data.get("validation_fraction", 0.1)
    if not isinstance(vf, (int, float)) or not 0 < vf < 1:
        bad("validation_fraction", f"must be a number between 0 and 1, got {vf!r}")

    metrics = data.get("metrics")
    if "metrics" in data:
        if not isinstance(metrics, list) or not metrics:
            bad("metrics", "must be a non-empty list of metric names")
            metrics = []
        for m in metrics:
            if not isinstance(m, str) or m not in METRICS:
                bad("metrics", f"unknown metric {m!r}.{did_you_mean(str(m), sorted(METRICS))}")
            elif problem in PROBLEMS and problem not in METRICS[m].problems:
                bad("metrics", f"metric {m!r} does not apply to {problem}")
    primary = data.get("primary_metric")
    if "primary_metric" in data and isinstance(metrics, list) and primary not in metrics:
        bad("primary_metric", f"{primary!r} is not one of the card's metrics {metrics}")
    direction = data.get("direction")
    if "direction" in data:
        if direction not in DIRECTIONS:
            bad("direction", f"must be 'max' or 'min', got {direction!r}")
        elif METRICS.get(str(primary)) and METRICS[primary].direction != direction:
            bad(
                "direction",
                f"metric {primary!r} is better when {METRICS[primary].direction}imised, not {direction}",
            )

    tags = data.get("tags", [])
    if not isinstance(tags, list):
        bad("tags", "must be a list")
    problems.extend(_validate_data_sources(data.get("data"), where) if "data" in data else [])
    return problems


def _validate_data_sources(sources: Any, where: str) -> list[str]:
    from harness.data.formats import FORMATS

    problems: list[str] = []
    if not isinstance(sources, dict) or not sources:
        return [f"{where}: field 'data': must name at least one of {', '.join(SOURCE_KINDS)}"]
    for kind in sources:
        if kind not in SOURCE_KINDS:
            problems.append(
                f"{where}: field 'data.{kind}': unknown data source.{did_you_mean(kind, list(SOURCE_KINDS))}"
            )
    hub = sources.get("hub")
    if hub is not None and (not isinstance(hub, dict) or not isinstance(hub.get("path"), str)):
        problems.append(f"{where}: field 'data.hub.path': a Hub source needs a dataset id")
    local = sources.get("local")
    if local is not None:
        if not isinstance(local, list):
            local = [local]
        for i, spec in enumerate(local):
            fld = f"data.local[{i}]"
            if not isinstance(spec, dict):
                problems.append(f"{where}: field '{fld}': must be a mapping")
                continue
            fmt = spec.get("format")
            if not isinstance(fmt, str) or fmt not in FORMATS:
                problems.append(
                    f"{where}: field '{fld}.format': unknown format {fmt!r}.{did_you_mean(str(fmt), FORMATS.names())} Known: {', '.join(FORMATS.names())}"
                )
            if not isinstance(spec.get("path"), str):
                problems.append(
                    f"{where}: field '{fld}.path': a folder relative to the data dir is required"
                )
            if not isinstance(spec.get("files"), dict) or not spec["files"]:
                problems.append(f"{where}: field '{fld}.files': must map split names to files")
    gen = sources.get("generator")
    if gen is not None and (not isinstance(gen, dict) or not isinstance(gen.get("function"), str)):
        problems.append(f"{where}: field 'data.generator.function': must be 'module:function'")
    return problems


def card_from_dict(data: dict[str, Any], path: Path | None = None) -> TaskCard:
    """Validate a merged mapping and build a TaskCard; raises CardErrors listing every problem."""
    where = str(path) if path else f"card {data.get('name', '?')}"
    problems = validate_card_dict(data, where)
    if problems:
        raise CardErrors(problems)
    local = data["data"].get("local")
    sources = dict(data["data"])
    if local is not None and not isinstance(local, list):
        sources["local"] = [local]
    return TaskCard(
        name=data["name"],
        version=data["version"],
        modality=data["modality"],
        problem=data["problem"],
        inputs=dict(data["inputs"]),
        label=data["label"],
        label_names=tuple(str(x) for x in data.get("label_names") or ()),
        splits={role: data["splits"].get(role) for role in SPLIT_ROLES},
        metrics=tuple(data["metrics"]),
        primary_metric=data["primary_metric"],
        direction=data["direction"],
        data=sources,
        tags=tuple(data.get("tags") or ()),
        description=str(data.get("description", "")).strip(),
        validation_fraction=float(data.get("validation_fraction", 0.1)),
        path=path,
        raw=data,
    )


def load_card(path: Path | str) -> TaskCard:
    """Load, merge includes, and validate one card file."""
    path = Path(path)
    return card_from_dict(resolve_includes(path), path)
