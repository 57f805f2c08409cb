"""Reader for the classic `glue_data/<TASK>/*.tsv` layout (format name `glue_tsv`).

The GLUE files are plain tab-separated lines: one row per line (split on ``\\n`` only, a
trailing ``\\r`` is dropped), one field per tab, no quoting and no escapes, so a ``"`` inside
a sentence is ordinary text (what ``csv.QUOTE_NONE`` means). A UTF-8 byte-order mark at the
start of a file (MRPC) is dropped. Every value is read as text; `validate_split` turns label
names or numbers into label indices or floats. Every line becomes exactly one row: a line
whose number of fields differs from the header's is an error naming the file and line,
unless the card asks to skip such lines (``bad_lines: warn``), and then each skipped line
is counted and logged.

Options (the `options` mapping of a card's `data.local` entry)::

    header: true           # the first line names the columns (default true)
    names: [a, b, c]       # column names; with `header: true` they replace the header's
    columns: {file column: card column}
                           # keep only these columns, renamed; a file that lacks the one
                           # mapped to the card's label column is read without labels
                           # (GLUE test files); any other missing column is an error
    bad_lines: error       # or `warn`: skip lines with the wrong number of fields, logged
    encoding: utf-8
    split_options:         # per-split overrides of any option above, by split name
      test: {header: true, names: null}

A split's options are the top-level options updated with its `split_options` entry (a key
set to null there restores the default). The split being read is the `split` argument when
the caller passes one, otherwise the split whose `files` entry lists the files given to the
reader; when several splits list the same files their effective options must agree. Option
problems raise errors naming the card file and the field (`data.local[i].options...`).

Example (CoLA: train and dev have no header, test has one)::

    options:
      header: false
      names: [source, label, mark, sentence]
      split_options: {test: {header: true, names: null}}
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import datasets

from harness.cards import TaskCard
from harness.errors import CardErrors, ConfigError, DataError
from harness.registry import did_you_mean

logger = logging.getLogger(__name__)

SPLIT_OPTION_KEYS = ("header", "names", "columns", "bad_lines", "encoding")
OPTION_KEYS = (*SPLIT_OPTION_KEYS, "split_options")
BAD_LINES = ("error", "warn")
DEFAULTS: dict[str, Any] = {
    "header": True,
    "names": None,
    "columns": None,
    "bad_lines": "error",
    "encoding": "utf-8",
}


def _listed(files: Any) -> list[str]:
    return [files] if isinstance(files, str) else list(files or [])


def validate_options(options: Any, split_names: list[str]) -> list[tuple[str, str]]:
    """Problems with a `glue_tsv` options mapping, as (field, message) pairs."""
    if options is None:
        return []
    if not isinstance(options, dict):
        return [("options", "must be a mapping")]
    problems = _check_keys(options, "options", OPTION_KEYS)
    per_split = options.get("split_options")
    if per_split is None:
        return problems
    if not isinstance(per_split, dict):
        return [*problems, ("options.split_options", "must map split names to option mappings")]
    for split, over in per_split.items():
        fld = f"options.split_options.{split}"
        if split not in split_names:
            hint = did_you_mean(str(split), split_names)
            problems.append((fld, f"no file is listed for split '{split}'.{hint}"))
        if not isinstance(over, dict):
            problems.append((fld, "must be a mapping of options"))
            continue
        problems.extend(_check_keys(over, fld, SPLIT_OPTION_KEYS))
    return problems


def _check_keys(opts: dict[str, Any], fld: str, allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    problems = []
    for key, value in opts.items():
        if key not in allowed:
            hint = did_you_mean(str(key), list(allowed))
            known = ", ".join(allowed)
            problems.append((f"{fld}.{key}", f"unknown option.{hint} Known: {known}"))
        elif key == "header" and not isinstance(value, bool):
            problems.append((f"{fld}.header", f"must be true or false, got {value!r}"))
        elif key == "names" and value is not None:
            if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
                problems.append((f"{fld}.names", "must be a list of column names"))
            elif len(set(value)) != len(value):
                problems.append((f"{fld}.names", "column names must be unique"))
        elif key == "columns" and value is not None:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                problems.append((f"{fld}.columns", "must map file columns to card columns"))
            elif len(set(value.values())) != len(value):
                problems.append((f"{fld}.columns", "two file columns map to the same card column"))
        elif key == "bad_lines" and value not in BAD_LINES:
            problems.append(
                (f"{fld}.bad_lines", f"must be one of {', '.join(BAD_LINES)}, got {value!r}")
            )
        elif key == "encoding" and not isinstance(value, str):
            problems.append((f"{fld}.encoding", "must be an encoding name"))
    return problems


def _where(spec: dict[str, Any], card: TaskCard | None) -> str:
    """'<card file>: field data.local[i]' for error messages."""
    index = "?"
    if card is not None:
        for i, other in enumerate(card.data.get("local") or []):
            if other is spec:
                index = str(i)
    path = (card.path or f"card {card.name}") if card is not None else "glue_tsv"
    return f"{path}: field 'data.local[{index}]"


def _matches(files: list[Path], listed: list[str]) -> bool:
    if len(files) != len(listed):
        return False
    for path, name in zip(files, listed):
        parts = Path(name).parts
        if tuple(Path(path).parts[-len(parts) :]) != parts:
            return False
    return True


def split_options(
    spec: dict[str, Any], files: list[Path], card: TaskCard | None = None, split: str | None = None
) -> dict[str, Any]:
    """The effective options for reading `files`: defaults < options < split_options[split]."""
    options = spec.get("options") or {}
    split_files = {s: _listed(f) for s, f in (spec.get("files") or {}).items()}
    problems = validate_options(options, list(split_files))
    if problems:
        where = _where(spec, card)
        raise CardErrors([f"{where}.{fld}': {msg}" for fld, msg in problems])
    base = {**DEFAULTS, **{k: v for k, v in options.items() if k != "split_options"}}
    per_split = options.get("split_options") or {}

    def effective(name: str | None) -> dict[str, Any]:
        merged = {**base, **(per_split.get(name) or {})}
        return {k: (DEFAULTS[k] if v is None else v) for k, v in merged.items()}

    if split is not None:
        return effective(split)
    candidates = [s for s, listed in split_files.items() if _matches(files, listed)]
    resolved = [effective(s) for s in candidates]
    if any(r != resolved[0] for r in resolved[1:]):
        raise ConfigError(
            f"{_where(spec, card)}.options.split_options': splits {candidates} list the same "
            f"file(s) {[str(f) for f in files]} but have different options; give them the same "
            "options or different files"
        )
    return resolved[0] if resolved else effective(None)


def read_table(path: Path, opts: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Read one GLUE tsv file into (column names, rows); every line is one row."""
    opts = {**DEFAULTS, **opts}
    try:
        text = Path(path).read_bytes().decode(opts["encoding"])
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not valid {opts['encoding']} at byte {exc.start}: {exc.reason}"
        ) from exc
    except (OSError, LookupError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    first = 0
    names = opts["names"]
    if opts["header"]:
        if not lines:
            raise DataError(f"{path}: the file is empty; expected a header line")
        header = lines[0].split("\t")
        first = 1
        if names is None:
            names = header
            if len(set(names)) != len(names):
                raise DataError(f"{path}: line 1: the header repeats a column name: {names}")
        elif len(names) != len(header):
            raise DataError(
                f"{path}: line 1: the header has {len(header)} columns {header}, but the card's "
                f"options.names gives {len(names)}: {names}"
            )
    elif names is None:
        raise DataError(f"{path}: a file without a header needs options.names")
    width = len(names)
    rows: list[list[str]] = []
    bad: list[tuple[int, int]] = []
    for number, line in enumerate(lines[first:], start=first + 1):
        fields = line.split("\t")
        if len(fields) != width:
            if opts["bad_lines"] != "warn":
                raise DataError(
                    f"{path}: line {number}: {len(fields)} tab-separated field(s), expected "
                    f"{width} ({', '.join(names)}): {line[:120]!r}. Fix the file, or set "
                    "options.bad_lines: warn in the card to skip such lines"
                )
            bad.append((number, len(fields)))
            continue
        rows.append(fields)
    if bad:
        shown = ", ".join(f"{n} ({k} fields)" for n, k in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        logger.warning(
            "%s: skipped %d line(s) without %d fields (bad_lines: warn): lines %s%s",
            path,
            len(bad),
            width,
            shown,
            more,
        )
    return list(names), rows


def _select(
    path: Path, names: list[str], rows: list[list[str]], columns: dict | None, label: str | None
) -> dict[str, list[str]]:
    """Columns of one file, selected and renamed by `columns` ({file column: card column})."""
    if not columns:
        return {name: [r[i] for r in rows] for i, name in enumerate(names)}
    missing = [c for c, target in columns.items() if c not in names and target != label]
    if missing:
        raise DataError(
            f"{path}: column(s) {missing} not found; the file has {names}. "
            "Check the card's options.columns (and header/names)"
        )
    out = {}
    for file_col, card_col in columns.items():
        if file_col in names:
            i = names.index(file_col)
            out[card_col] = [r[i] for r in rows]
    return out


def read_glue_tsv(
    files: list[Path], spec: dict[str, Any], card: TaskCard, split: str | None = None
) -> datasets.Dataset:
    """Read the GLUE tsv file(s) of one split into a dataset of text columns."""
    opts = split_options(spec, files, card, split)
    label = card.label if card is not None else None
    merged: dict[str, list[str]] | None = None
    for path in files:
        names, rows = read_table(path, opts)
        part = _select(path, names, rows, opts["columns"], label)
        if merged is None:
            merged = part
        elif list(part) != list(merged):
            raise DataError(
                f"{path}: columns {list(part)} differ from those of {files[0]}: {list(merged)}"
            )
        else:
            for col, values in part.items():
                merged[col].extend(values)
    assert merged is not None
    features = datasets.Features({col: datasets.Value("string") for col in merged})
    return datasets.Dataset.from_dict(merged, features=features)
