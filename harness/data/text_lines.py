"""Readers for text corpora distributed as lines: one example per line, or parallel files.

`lines` (options `layout`, `sep`, `regex`, `encoding`):
- `label_text`: `label<sep>text` (sep defaults to a tab; `sep: " "` for `1 a fine film`);
- `fasttext`: `__label__x text` (the first `__label__` is the label, further ones are dropped);
- `coarse_fine`: `COARSE:fine text` (TREC): columns `label` (COARSE), `fine_label` (COARSE:fine);
- `regex`: any pattern whose named groups become columns (e.g. `(?P<label>\\d) (?P<text>.*)`).
Every layout gives the columns `label` and `text` (rename them with `options.columns`). A line
that does not match is an error naming the file and line; blank lines are skipped.

`parallel`: one file per column, lines aligned (`s1.dev`, `s2.dev`, `labels.dev`): the card's
`files` maps each split to {column: file}. Files of different lengths are an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import datasets

from harness.cards import TaskCard
from harness.data.tabular import rename_columns
from harness.errors import ConfigError, DataError

LAYOUTS = {
    "label_text": None,  # built from `sep`
    "fasttext": r"^(?P<label>__label__\S+)(?:\s+__label__\S+)*\s+(?P<text>.*)$",
    "coarse_fine": r"^(?P<label>[^:\s]+):(?P<fine>\S+)\s+(?P<text>.*)$",
}


def _pattern(opts: dict[str, Any], where: str) -> re.Pattern:
    if "regex" in opts:
        try:
            pattern = re.compile(opts["regex"])
        except re.error as exc:
            raise ConfigError(f"{where}: options.regex: {exc}") from exc
        if not pattern.groupindex:
            raise ConfigError(f"{where}: options.regex needs named groups, e.g. (?P<label>...)")
        return pattern
    layout = opts.get("layout", "label_text")
    if layout not in LAYOUTS:
        raise ConfigError(
            f"{where}: options.layout must be one of {', '.join(LAYOUTS)} (or give "
            f"options.regex), got {layout!r}"
        )
    if layout == "label_text":
        sep = re.escape(str(opts.get("sep", "\t")))
        return re.compile(rf"^(?P<label>.*?){sep}(?P<text>.*)$")
    return re.compile(LAYOUTS[layout])


def read_lines(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    opts = spec.get("options") or {}
    pattern = _pattern(opts, f"task '{card.name}'")
    layout = opts.get("layout", "label_text") if "regex" not in opts else "regex"
    columns: dict[str, list[str]] = {name: [] for name in pattern.groupindex}
    if layout == "coarse_fine":
        columns = {"label": [], "fine_label": [], "text": []}
    for f in files:
        for n, line in enumerate(_read_text(f, opts).splitlines(), start=1):
            if not line.strip():
                continue
            m = pattern.match(line.rstrip("\r"))
            if m is None:
                raise DataError(
                    f"{f}: line {n}: does not match the '{layout}' layout: {line[:80]!r}"
                )
            groups = m.groupdict()
            if layout == "fasttext":
                groups["label"] = groups["label"][len("__label__") :]
            if layout == "coarse_fine":
                groups = {
                    "label": groups["label"],
                    "fine_label": f"{groups['label']}:{groups['fine']}",
                    "text": groups["text"],
                }
            for k, v in groups.items():
                columns[k].append((v or "").strip())
    return rename_columns(datasets.Dataset.from_dict(columns), spec, str(files[0]), card.label)


def read_parallel(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    opts = spec.get("options") or {}
    names = spec.get("columns_of_files") or []
    if len(names) != len(files):
        raise ConfigError(
            f"task '{card.name}': format parallel: files must map each column to a file"
        )
    columns = {}
    for name, f in zip(names, files):
        columns[name] = [line.rstrip("\r").strip() for line in _read_text(f, opts).split("\n")]
        if columns[name] and columns[name][-1] == "":  # the final newline
            columns[name].pop()
    lengths = {f"{f.name} ({name})": len(columns[name]) for name, f in zip(names, files)}
    if len(set(lengths.values())) > 1:
        raise DataError(
            f"{files[0].parent}: parallel files have different numbers of lines: {lengths}"
        )
    return rename_columns(datasets.Dataset.from_dict(columns), spec, str(files[0]), card.label)


def _read_text(path: Path, opts: dict[str, Any]) -> str:
    encoding = opts.get("encoding", "utf-8-sig")
    try:
        return Path(path).read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not {encoding} text ({exc.reason} at byte {exc.start}); set "
            f"options.encoding (e.g. latin-1)"
        ) from exc
    except LookupError as exc:
        raise ConfigError(f"{path}: options.encoding: {exc}") from exc
