"""Checking a merged card mapping: every problem, each naming the file and the field."""

from __future__ import annotations

from typing import Any

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
    SPLIT_ROLES,
    TOP_LEVEL_FIELDS,
    parse_split_ref,
)
from harness.registry import did_you_mean


class _Problems(list):
    """Problems found in one card, each as `<where>: field '<field>': <message>`."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def bad(self, fld: str, msg: str) -> None:
        self.append(f"{self.where}: field '{fld}': {msg}")


def validate_card_dict(data: dict[str, Any], where: str) -> list[str]:
    """Return every problem with a merged card mapping, each naming the file and field."""
    problem, modality = data.get("problem"), data.get("modality")
    problems = [
        *_validate_top_level(data, where),
        *_validate_inputs(data, modality, where),
        *_validate_label_names(data, problem, where),
        *_validate_choices(data, problem, modality, where),
        *_validate_labels(data, problem, where),
        *_validate_splits(data, where),
        *_validate_metrics(data, problem, where),
    ]
    if not isinstance(data.get("tags", []), list):
        problems.append(f"{where}: field 'tags': must be a list")
    problems.extend(_validate_data_sources(data.get("data"), where) if "data" in data else [])
    return problems


def _validate_top_level(data: dict[str, Any], where: str) -> list[str]:
    """Unknown and missing fields, then `version`, `name`, `modality` and `problem`."""
    out = _Problems(where)
    for key in data:
        if key not in TOP_LEVEL_FIELDS:
            out.bad(key, f"unknown field.{did_you_mean(key, sorted(TOP_LEVEL_FIELDS))}")
    for key in REQUIRED_FIELDS:
        if key not in data:
            out.bad(key, "missing required field")
    version = data.get("version")
    if "version" in data and (isinstance(version, bool) or not isinstance(version, (int, str))):
        out.bad("version", f"must be a whole number or a string, got {version!r}")
    name = data.get("name")
    if "name" in data and (not isinstance(name, str) or not NAME_PATTERN.match(name)):
        out.bad(
            "name", f"must be letters, digits, '_', '-' or '.' (at most 100, no path), got {name!r}"
        )
    modality = data.get("modality")
    if "modality" in data and modality not in MODALITIES:
        out.bad("modality", f"must be one of {', '.join(MODALITIES)}, got {modality!r}")
    problem = data.get("problem")
    if "problem" in data and problem not in PROBLEMS:
        out.bad("problem", f"must be one of {', '.join(PROBLEMS)}, got {problem!r}")
    return out


def _validate_inputs(data: dict[str, Any], modality: Any, where: str) -> list[str]:
    """`inputs`: roles of the modality, each a column or a list of text columns to join."""
    out = _Problems(where)
    if "inputs" not in data:
        return out
    inputs = data.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        out.bad("inputs", "must map input roles (text, text_pair, image) to column names")
        return out
    allowed = {"text": ("text", "text_pair"), "image": ("image",)}.get(modality, ())
    for role, col in inputs.items():
        if allowed and role not in allowed:
            out.bad(
                f"inputs.{role}",
                f"not an input role for modality {modality!r}; use {', '.join(allowed)}",
            )
        joined = (
            isinstance(col, list) and len(col) >= 1 and all(isinstance(c, str) and c for c in col)
        )
        if not (isinstance(col, str) and col) and not joined:
            out.bad(f"inputs.{role}", "must be a column name or a list of columns to join")
        elif joined and modality == "image":
            out.bad(f"inputs.{role}", "image inputs cannot be joined")
    if modality == "text" and "text" not in inputs:
        out.bad("inputs.text", "a text task needs a 'text' column")
    if modality == "image" and "image" not in inputs:
        out.bad("inputs.image", "an image task needs an 'image' column")
    return out


def _validate_label_names(data: dict[str, Any], problem: Any, where: str) -> list[str]:
    """`label` (a column) and `label_names` (two or more, unique; none for regression)."""
    out = _Problems(where)
    if "label" in data and not isinstance(data.get("label"), str):
        out.bad("label", "must be a column name")
    label_names = data.get("label_names")
    if problem == "classification":
        if not isinstance(label_names, list) or len(label_names) < 2:
            out.bad("label_names", "a classification task needs a list of at least two label names")
        elif len(set(map(str, label_names))) != len(label_names):
            out.bad("label_names", "label names must be unique")
    elif problem == "regression" and label_names:
        out.bad("label_names", "a regression task has no label names")
    return out


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


def _validate_splits(data: dict[str, Any], where: str) -> list[str]:
    """`splits` or `resplit` (one of them, not both), then `validation_fraction`."""
    out = _Problems(where)
    resplit = data.get("resplit")
    if resplit is not None:
        out.extend(_validate_resplit(resplit, data.get("splits") is not None, where))
    elif "splits" not in data:
        out.bad("splits", "missing required field")
    else:
        out.extend(_validate_split_names(data.get("splits"), where))
    vf = data.get("validation_fraction", 0.1)
    if not isinstance(vf, (int, float)) or not 0 < vf < 1:
        out.bad("validation_fraction", f"must be a number between 0 and 1, got {vf!r}")
    return out


def _validate_split_names(splits: Any, where: str) -> list[str]:
    """`splits`: known roles, train and test named, each a split name or a slice of one."""
    out = _Problems(where)
    if not isinstance(splits, dict):
        out.bad("splits", "must map train/validation/test to split names")
        return out
    for role in splits:
        if role not in SPLIT_ROLES:
            out.bad(f"splits.{role}", f"unknown split role.{did_you_mean(role, list(SPLIT_ROLES))}")
    for role in ("train", "test"):
        if not splits.get(role):
            out.bad(
                f"splits.{role}",
                "missing: a card names its training split and the split it is scored on",
            )
    for role, ref in splits.items():
        if ref and role in SPLIT_ROLES:
            try:
                parse_split_ref(str(ref))
            except ValueError as exc:
                out.bad(f"splits.{role}", str(exc))
    return out


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


def _validate_metrics(data: dict[str, Any], problem: Any, where: str) -> list[str]:
    """`metrics` (known, fit for the problem), `primary_metric` (one of them) and `direction`
    (the primary metric's)."""
    from harness.metrics import METRICS  # local import: metrics pull in nothing heavy

    out = _Problems(where)
    metrics = data.get("metrics")
    if "metrics" in data:
        if not isinstance(metrics, list) or not metrics:
            out.bad("metrics", "must be a non-empty list of metric names")
            metrics = []
        for m in metrics:
            if not isinstance(m, str) or m not in METRICS:
                out.bad("metrics", f"unknown metric {m!r}.{did_you_mean(str(m), sorted(METRICS))}")
            elif problem in PROBLEMS and problem not in METRICS[m].problems:
                out.bad("metrics", f"metric {m!r} does not apply to {problem}")
    primary = data.get("primary_metric")
    if "primary_metric" in data and isinstance(metrics, list) and primary not in metrics:
        out.bad("primary_metric", f"{primary!r} is not one of the card's metrics {metrics}")
    direction = data.get("direction")
    if "direction" in data:
        if direction not in DIRECTIONS:
            out.bad("direction", f"must be 'max' or 'min', got {direction!r}")
        elif METRICS.get(str(primary)) and METRICS[primary].direction != direction:
            out.bad(
                "direction",
                f"metric {primary!r} is better when {METRICS[primary].direction}imised, not {direction}",
            )
    return out


def _validate_data_sources(sources: Any, where: str) -> list[str]:
    """`data`: known sources; a Hub dataset id, local folders and a generator function."""
    if not isinstance(sources, dict) or not sources:
        return [f"{where}: field 'data': must name at least one of {', '.join(SOURCE_KINDS)}"]
    problems = _validate_source_keys(sources, where)
    local = sources.get("local")
    if local is not None:
        if not isinstance(local, list):
            local = [local]
        for i, spec in enumerate(local):
            problems.extend(_validate_local_source(spec, f"data.local[{i}]", where))
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


def _validate_source_keys(sources: dict[str, Any], where: str) -> list[str]:
    """Known source kinds, a Hub source's dataset id, known Hub and generator fields."""
    problems: list[str] = []
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
    return problems


def _validate_local_source(spec: Any, fld: str, where: str) -> list[str]:
    """One `data.local` entry: its format and options, known keys, a path and its files."""
    from harness.data.formats import FORMATS

    problems: list[str] = []
    if not isinstance(spec, dict):
        return [f"{where}: field '{fld}': must be a mapping"]
    fmt = spec.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        problems.append(
            f"{where}: field '{fld}.format': unknown format {fmt!r}.{did_you_mean(str(fmt), FORMATS.names())} Known: {', '.join(FORMATS.names())}"
        )
    problems.extend(_validate_local_options(fmt, spec.get("options"), fld, where))
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
        return problems
    for split, f in files.items():
        ok = isinstance(f, str) or (
            isinstance(f, list) and f and all(isinstance(x, str) for x in f)
        )
        if fmt == "parallel":
            ok = isinstance(f, dict) and f and all(isinstance(x, str) for x in f.values())
        if not ok:
            want = "a mapping {column: file}" if fmt == "parallel" else "a file or a list of files"
            problems.append(f"{where}: field '{fld}.files.{split}': must be {want}, got {f!r}")
    return problems


def _validate_local_options(fmt: Any, options: Any, fld: str, where: str) -> list[str]:
    """A local entry's `options`: a mapping of the options its format reads."""
    from harness.data.formats import FORMAT_OPTIONS, check_options

    problems: list[str] = []
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
    return problems
