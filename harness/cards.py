"""Task cards: one YAML file per task, validated on load, with `include:` inheritance."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import CardErrors, ConfigError
from harness.registry import did_you_mean

MODALITIES = ("text", "image")
PROBLEMS = ("classification", "regression", "multiple_choice")
CLASS_PROBLEMS = ("classification", "multiple_choice")  # labels are classes (positions)
DIRECTIONS = ("max", "min")
SPLIT_ROLES = ("train", "validation", "test")
SOURCE_KINDS = ("hub", "local", "generator")
LOCAL_FIELDS = ("format", "path", "files", "options")
HUB_FIELDS = ("path", "name", "revision")
GENERATOR_FIELDS = ("function", "kwargs")
RESPLIT_FIELDS = ("from", "seed", *SPLIT_ROLES)
TOP_LEVEL_FIELDS = {
    "name",
    "version",
    "description",
    "modality",
    "problem",
    "inputs",
    "label",
    "label_names",
    "splits",
    "validation_fraction",
    "metrics",
    "primary_metric",
    "direction",
    "tags",
    "data",
    "include",
    "citation",
    "license",
    "label_map",
    "label_offset",
    "drop_unknown_labels",
    "input_separator",
    "resplit",
    "choices",
}
REQUIRED_FIELDS = (
    "name",
    "version",
    "modality",
    "problem",
    "inputs",
    "label",
    "metrics",
    "primary_metric",
    "direction",
    "data",
)
# a task name becomes part of file and folder names: letters, digits, `_`, `-` and `.`, no path
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


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
    version = data.get("version")
    if "version" in data and (isinstance(version, bool) or not isinstance(version, (int, str))):
        bad("version", f"must be a whole number or a string, got {version!r}")
    name = data.get("name")
    if "name" in data and (not isinstance(name, str) or not NAME_PATTERN.match(name)):
        bad(
            "name", f"must be letters, digits, '_', '-' or '.' (at most 100, no path), got {name!r}"
        )
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
                joined = (
                    isinstance(col, list)
                    and len(col) >= 1
                    and all(isinstance(c, str) and c for c in col)
                )
                if not (isinstance(col, str) and col) and not joined:
                    bad(f"inputs.{role}", "must be a column name or a list of columns to join")
                elif joined and modality == "image":
                    bad(f"inputs.{role}", "image inputs cannot be joined")
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
    problems.extend(_validate_choices(data, problem, modality, where))

    problems.extend(_validate_labels(data, problem, where))
    splits = data.get("splits")
    resplit = data.get("resplit")
    if resplit is not None:
        problems.extend(_validate_resplit(resplit, data.get("splits") is not None, where))
    elif "splits" not in data:
        bad("splits", "missing required field")
    if "splits" in data and resplit is None:
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
            for role, ref in splits.items():
                if ref and role in SPLIT_ROLES:
                    try:
                        parse_split_ref(str(ref))
                    except ValueError as exc:
                        bad(f"splits.{role}", str(exc))
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


def _validate_choices(data: dict[str, Any], problem: Any, modality: Any, where: str) -> list[str]:
    """`choices` (multiple_choice only): at least two columns, each scored against the
    `text` input by one shared head; `label_names`, if given, name the choices in order."""
    choices, label_names = data.get("choices"), data.get("label_names")
    fld = f"{where}: field 'choices'"
    if problem != "multiple_choice":
        return [f"{fld}: only a multiple_choice task has choices"] if "choices" in data else []
    problems = []
    if modality != "text":
        problems.append(f"{where}: field 'modality': a multiple_choice task is text")
    if not (
        isinstance(choices, list)
        and len(choices) >= 2
        and all(isinstance(c, str) and c for c in choices)
    ):
        problems.append(f"{fld}: a multiple_choice task lists at least two columns, one per choice")
    elif len(set(choices)) != len(choices):
        problems.append(f"{fld}: choice columns must be unique")
    elif label_names is not None and (
        not isinstance(label_names, list) or len(label_names) != len(choices)
    ):
        problems.append(
            f"{where}: field 'label_names': a multiple_choice task names its "
            f"{len(choices)} choices in order, or leaves label_names out"
        )
    if isinstance(data.get("inputs"), dict) and "text_pair" in data["inputs"]:
        problems.append(
            f"{where}: field 'inputs.text_pair': a multiple_choice task pairs "
            f"its text with each choice; give the context as 'text' only"
        )
    return problems


def _validate_labels(data: dict[str, Any], problem: Any, where: str) -> list[str]:
    problems = []
    given = data.get("label_names") or (
        data.get("choices") if problem == "multiple_choice" else None
    )
    names = [str(n) for n in given] if isinstance(given, list) else []
    label_map = data.get("label_map")
    if label_map is not None:
        if problem not in CLASS_PROBLEMS:
            problems.append(f"{where}: field 'label_map': only a task with classes maps labels")
        elif not isinstance(label_map, dict) or not label_map:
            problems.append(
                f"{where}: field 'label_map': must map values in the file to label names"
            )
        else:
            for value, name in label_map.items():
                if str(name) not in names:
                    problems.append(
                        f"{where}: field 'label_map': {value!r} maps to {name!r}, which is not "
                        f"one of label_names {names}"
                    )
    offset = data.get("label_offset")
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int)):
        problems.append(f"{where}: field 'label_offset': must be a whole number, got {offset!r}")
    if offset is not None and label_map is not None:
        problems.append(f"{where}: field 'label_offset': give label_map or label_offset, not both")
    if not isinstance(data.get("drop_unknown_labels", False), bool):
        problems.append(f"{where}: field 'drop_unknown_labels': must be true or false")
    if not isinstance(data.get("input_separator", " "), str):
        problems.append(f"{where}: field 'input_separator': must be a string")
    return problems


def _validate_resplit(resplit: Any, has_splits: bool, where: str) -> list[str]:
    fld = f"{where}: field 'resplit"
    if has_splits:
        return [
            f"{fld}': give 'splits' or 'resplit', not both (over an included card, set splits: null)"
        ]
    if not isinstance(resplit, dict) or not isinstance(resplit.get("from"), str):
        return [
            f"{fld}': must be a mapping with 'from' (the split to cut) and fractions for train, "
            f"validation (optional) and test, e.g. {{from: train, train: 0.8, validation: 0.1, test: 0.1}}"
        ]
    problems = []
    for key in resplit:
        if key not in RESPLIT_FIELDS:
            problems.append(f"{fld}.{key}': unknown key.{did_you_mean(key, list(RESPLIT_FIELDS))}")
    fractions = {r: resplit.get(r) for r in SPLIT_ROLES if r in resplit}
    for role in ("train", "test"):
        if role not in fractions:
            problems.append(f"{fld}.{role}': missing: the fraction of rows for {role}")
    for role, f in fractions.items():
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            problems.append(f"{fld}.{role}': must be a fraction between 0 and 1, got {f!r}")
    if not problems and abs(sum(fractions.values()) - 1) > 1e-6:
        problems.append(f"{fld}': the fractions {fractions} must add up to 1")
    seed = resplit.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(f"{fld}.seed': must be a whole number, got {seed!r}")
    return problems


SPLIT_REF = re.compile(r"^(?P<name>[^\[\]]+?)(?:\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")


def parse_split_ref(ref: str) -> tuple[str, str | None, str | None]:
    """`test`, `test[:80%]`, `train[100:]`: the split name and the slice bounds (rows or %)."""
    m = SPLIT_REF.match(ref.strip())
    if not m:
        raise ValueError(
            f"cannot read split {ref!r}: use a name, or name[start:stop] with row numbers "
            f"or percentages, e.g. test[:80%]"
        )
    for bound in (m["start"], m["stop"]):
        if bound and bound.endswith("%") and not 0 <= int(bound[:-1]) <= 100:
            raise ValueError(f"split {ref!r}: a percentage must be between 0% and 100%")
    return m["name"].strip(), m["start"], m["stop"]


def slice_rows(n: int, start: str | None, stop: str | None) -> range:
    """The rows of a split of `n` rows that a `[start:stop]` slice selects (percentages rounded)."""

    def pos(bound: str | None, default: int) -> int:
        if bound is None:
            return default
        if bound.endswith("%"):
            return int(round(n * int(bound[:-1]) / 100))
        return int(bound)

    return range(n)[slice(pos(start, 0), pos(stop, n))]


def _validate_data_sources(sources: Any, where: str) -> list[str]:
    from harness.data.formats import FORMAT_OPTIONS, FORMATS, check_options

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
    for kind, known in (("hub", HUB_FIELDS), ("generator", GENERATOR_FIELDS)):
        if isinstance(sources.get(kind), dict):
            for key in sources[kind]:
                if key not in known:
                    problems.append(
                        f"{where}: field 'data.{kind}.{key}': unknown field.{did_you_mean(key, list(known))}"
                    )
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
            options = spec.get("options")
            if options is not None and not isinstance(options, dict):
                problems.append(f"{where}: field '{fld}.options': must be a mapping")
            elif options and fmt in FORMAT_OPTIONS and fmt != "glue_tsv":  # glue_tsv checks its own
                for key in options:
                    if key not in FORMAT_OPTIONS[fmt]:
                        known = list(FORMAT_OPTIONS[fmt])
                        problems.append(
                            f"{where}: field '{fld}.options.{key}': format {fmt} has no such option."
                            f"{did_you_mean(key, known)} Known: {', '.join(known) or 'none'}"
                        )
                for key, msg in check_options(fmt, options):
                    problems.append(f"{where}: field '{fld}.options.{key}': {msg}")
            for key in spec:
                if key not in LOCAL_FIELDS:
                    problems.append(
                        f"{where}: field '{fld}.{key}': unknown field.{did_you_mean(key, list(LOCAL_FIELDS))}"
                    )
            if not isinstance(spec.get("path"), str):
                problems.append(
                    f"{where}: field '{fld}.path': a folder relative to the data dir is required"
                )
            files = spec.get("files")
            if not isinstance(files, dict) or not files:
                problems.append(f"{where}: field '{fld}.files': must map split names to files")
                continue
            for split, f in files.items():
                ok = isinstance(f, str) or (
                    isinstance(f, list) and f and all(isinstance(x, str) for x in f)
                )
                if fmt == "parallel":
                    ok = isinstance(f, dict) and f and all(isinstance(x, str) for x in f.values())
                if not ok:
                    want = (
                        "a mapping {column: file}"
                        if fmt == "parallel"
                        else "a file or a list of files"
                    )
                    problems.append(
                        f"{where}: field '{fld}.files.{split}': must be {want}, got {f!r}"
                    )
    gen = sources.get("generator")
    if gen is not None and (not isinstance(gen, dict) or not isinstance(gen.get("function"), str)):
        problems.append(f"{where}: field 'data.generator.function': must be 'module:function'")
    if (
        isinstance(gen, dict)
        and gen.get("kwargs") is not None
        and not isinstance(gen["kwargs"], dict)
    ):
        problems.append(
            f"{where}: field 'data.generator.kwargs': must be a mapping, got {gen['kwargs']!r}"
        )
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
