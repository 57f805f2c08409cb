"""Task cards: one YAML file per task, validated on load, with `include:` inheritance.

The fields a card may hold are in `card_schema`, their checks in `card_validation`."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.card_schema import (
    CLASS_PROBLEMS,
    DIRECTIONS,
    GENERATOR_FIELDS,
    HUB_FIELDS,
    LOCAL_FIELDS,
    MODALITIES,
    NAME_PATTERN,
    PROBLEMS,
    REQUIRED_FIELDS,
    RESPLIT_FIELDS,
    SOURCE_KINDS,
    SPLIT_REF,
    SPLIT_ROLES,
    TOP_LEVEL_FIELDS,
    parse_split_ref,
    slice_rows,
)
from harness.card_validation import validate_card_dict
from harness.errors import CardErrors, ConfigError

__all__ = [
    "CLASS_PROBLEMS",
    "DIRECTIONS",
    "GENERATOR_FIELDS",
    "HUB_FIELDS",
    "LOCAL_FIELDS",
    "MODALITIES",
    "NAME_PATTERN",
    "PROBLEMS",
    "REQUIRED_FIELDS",
    "RESPLIT_FIELDS",
    "SOURCE_KINDS",
    "SPLIT_REF",
    "SPLIT_ROLES",
    "TOP_LEVEL_FIELDS",
    "TaskCard",
    "card_from_dict",
    "deep_merge",
    "load_card",
    "parse_split_ref",
    "read_yaml",
    "resolve_includes",
    "slice_rows",
    "validate_card_dict",
]


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
    label_map: dict[str, str] | None = None  # file value (as text) -> label name
    label_offset: int | None = None  # integer labels are positions counted from this
    drop_unknown_labels: bool = False  # drop rows whose label is not in the label set
    input_joins: dict[str, tuple[str, ...]] = field(default_factory=dict)  # joined input columns
    input_separator: str = " "
    resplit: dict[str, Any] | None = None  # one source split cut into train/validation/test
    choices: tuple[str, ...] = ()  # multiple_choice: the columns holding the candidate answers
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_labels(self) -> int:
        """Classes (for multiple choice: the choices); 1 for regression."""
        return 1 if self.problem == "regression" else len(self.label_names)

    @property
    def has_classes(self) -> bool:
        """Labels are class positions: classification, or the right choice's position."""
        return self.problem in CLASS_PROBLEMS

    @property
    def head_outputs(self) -> int:
        """Output size of the head: one score per choice (shared across choices) for
        multiple choice, 1 for regression, else one logit per class."""
        return 1 if self.problem in ("regression", "multiple_choice") else self.num_labels

    @property
    def is_pair(self) -> bool:
        return "text_pair" in self.inputs

    @property
    def input_columns(self) -> list[str]:
        """The model's input columns (a joined input is one column named `a+b`), then the
        choice columns of a multiple-choice task."""
        return [*self.inputs.values(), *self.choices]

    @property
    def file_columns(self) -> list[str]:
        """The columns read from the data: each input column, or the parts of a joined one."""
        cols: list[str] = []
        for col in self.inputs.values():
            cols.extend(self.input_joins.get(col, (col,)))
        return list(dict.fromkeys([*cols, *self.choices]))

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


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Any:
    """YAML text's data, parsed once per process: every registry reads every card again, and
    parsing is most of it. Keyed by the text itself, so an edited file is parsed afresh."""
    return yaml.safe_load(text)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning parse errors into errors that name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        data = copy.deepcopy(_parsed(text))  # a copy: callers merge and edit what they read
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
    inputs, joins = {}, {}
    for role, col in data["inputs"].items():
        if isinstance(col, list):
            inputs[role] = "+".join(col)
            joins[inputs[role]] = tuple(col)
        else:
            inputs[role] = col
    resplit = data.get("resplit")
    splits = (
        {r: (resplit["from"] if r in resplit else None) for r in SPLIT_ROLES}
        if resplit
        else data["splits"]
    )
    label_map = data.get("label_map")
    return TaskCard(
        name=data["name"],
        version=data["version"],
        modality=data["modality"],
        problem=data["problem"],
        inputs=inputs,
        input_joins=joins,
        input_separator=data.get("input_separator", " "),
        label_map={_label_text(k): str(v) for k, v in label_map.items()} if label_map else None,
        label_offset=data.get("label_offset"),
        drop_unknown_labels=bool(data.get("drop_unknown_labels", False)),
        resplit=dict(resplit) if resplit else None,
        choices=tuple(data.get("choices") or ()),
        label=data["label"],
        label_names=tuple(str(x) for x in data.get("label_names") or data.get("choices") or ()),
        splits={role: splits.get(role) for role in SPLIT_ROLES},
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


def _label_text(value: Any) -> str:
    """A label value as text, for matching against names and `label_map` keys: whole-number
    floats lose their `.0` (pandas reads a column with a gap as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def load_card(path: Path | str) -> TaskCard:
    """Load, merge includes, and validate one card file."""
    path = Path(path)
    return card_from_dict(resolve_includes(path), path)
