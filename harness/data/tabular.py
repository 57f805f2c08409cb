"""Readers for generic tables: csv/tsv, json/jsonl, parquet, numpy npz and `save_to_disk`
folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import numpy as np

from harness.cards import TaskCard
from harness.errors import DataError


def rename_columns(
    ds: datasets.Dataset, spec: dict[str, Any], where: str, label: str | None = None
) -> datasets.Dataset:
    """Apply `options.columns` ({file column: card column}) and keep only mapped columns."""
    mapping = (spec.get("options") or {}).get("columns") or {}
    # a label column may be absent (hidden test labels); validation reports it where it matters
    missing = [c for c, target in mapping.items() if c not in ds.column_names and target != label]
    if missing:
        raise DataError(f"{where}: column(s) {missing} not found; the file has {ds.column_names}")
    mapping = {k: v for k, v in mapping.items() if k != v and k in ds.column_names}
    return ds.rename_columns(mapping) if mapping else ds


def _concat(parts: list[datasets.Dataset]) -> datasets.Dataset:
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def is_position(key: Any) -> bool:
    """A key of `options.columns` that is a column's position (0, 1, ...), not its name."""
    return isinstance(key, int) and not isinstance(key, bool)


def read_csv(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """csv / tsv. `options.columns` keys are column names, or positions (0 is the first column)
    for files without a header; when every key is a position and neither `header` nor `names`
    is given, the file is read as having no header row."""
    import pandas as pd

    opts = spec.get("options") or {}
    sep = opts.get("sep", "\t" if str(files[0]).endswith(".tsv") else ",")
    columns = opts.get("columns") or {}
    by_position = bool(columns) and all(is_position(k) for k in columns)
    # as pandas: `names` means the file has no header row, unless `header` says it has one
    # (then the names replace it)
    header = opts.get("header", None if opts.get("names") or by_position else 0)
    frames = []
    for f in files:
        try:
            frame = pd.read_csv(
                f,
                sep=sep,
                header=header,
                names=opts.get("names"),
                encoding="utf-8-sig",
                keep_default_na=False,
            )
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{f}: cannot parse as csv: {exc}") from exc
        frame.columns = [str(c) for c in frame.columns]  # no header: 0, 1, ... as "0", "1", ...
        frames.append(frame)
    if any(is_position(k) for k in columns):
        names = list(frames[0].columns)
        outside = [k for k in columns if is_position(k) and not 0 <= k < len(names)]
        if outside:
            raise DataError(
                f"{files[0]}: options.columns: position(s) {outside} outside the "
                f"file's {len(names)} column(s) (0 is the first): {names}"
            )
        columns = {(names[k] if is_position(k) else k): v for k, v in columns.items()}
        spec = {**spec, "options": {**opts, "columns": columns}}
    ds = datasets.Dataset.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    return rename_columns(ds, spec, str(files[0]), card.label)


def _records_under(path: Path, field: str | None) -> Any:
    """A .json file holding one object: the records under `field` (a list of records or a
    mapping of columns); without `field`, None, or an error naming the field when the records
    plainly sit under one (`{"data": [{...}, ...]}`)."""
    import json

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    if field is None and not text.lstrip().startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: cannot parse as json: {exc}") from exc
    if not isinstance(obj, dict):
        if field is None:
            return None
        raise DataError(
            f"{path}: options.field '{field}': the file holds a {type(obj).__name__}, "
            f"not an object with fields"
        )
    if field is None:
        lists = [k for k, v in obj.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if lists:
            raise DataError(
                f"{path}: the records sit under the field(s) {lists}, not at the top: "
                f"set options.field: {lists[0]} in the card"
            )
        return None
    if field not in obj:
        raise DataError(
            f"{path}: options.field: no field '{field}'; the file's top-level fields "
            f"are {list(obj)}"
        )
    records = obj[field]
    if not isinstance(records, (list, dict)):
        raise DataError(
            f"{path}: options.field '{field}' holds a {type(records).__name__}, not "
            f"a list of records or a mapping of columns"
        )
    return records


def read_json(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """json (a list of records, pandas' layouts, or with `options.field` the records under
    that top-level field) or JSON Lines (`.jsonl`: one record per line)."""
    import pandas as pd

    field = (spec.get("options") or {}).get("field")
    frames = []
    for f in files:
        lines = str(f).endswith("l")
        if lines and field is not None:
            raise DataError(
                f"{f}: options.field is for a .json file holding one object; this "
                f"file is JSON Lines (one record per line): leave field out"
            )
        records = None if lines else _records_under(f, field)
        try:
            if records is not None:
                frames.append(pd.DataFrame(records))
            else:
                frames.append(pd.read_json(f, lines=lines))
        except ValueError as exc:
            raise DataError(f"{f}: cannot parse as json: {exc}") from exc
    ds = datasets.Dataset.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    return rename_columns(ds, spec, str(files[0]), card.label)


def read_parquet(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    try:
        parts = [datasets.Dataset.from_parquet(str(f), keep_in_memory=False) for f in files]
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"{files[0]}: cannot read parquet: {exc}") from exc
    ds = rename_columns(_concat(parts), spec, str(files[0]), card.label)
    if card.modality == "image":
        from harness.data.vision_files import ensure_image_column

        ds = ensure_image_column(ds, card, str(files[0]))
    return ds


def read_npz(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """An .npz with one array per column (images as uint8 arrays N×H×W[×C])."""
    parts = []
    for f in files:
        try:
            with np.load(f) as arrays:
                parts.append(datasets.Dataset.from_dict({k: list(arrays[k]) for k in arrays.files}))
        except (OSError, ValueError) as exc:
            raise DataError(f"{f}: cannot read npz: {exc}") from exc
    return rename_columns(_concat(parts), spec, str(files[0]), card.label)


def read_save_to_disk(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """Folders written by `Dataset.save_to_disk` (one per split; a `DatasetDict.save_to_disk`
    folder holds one per split, named after it), read with `datasets.load_from_disk`. Their
    features (class names, images) are kept."""
    import json

    parts = []
    for folder in files:
        folder = Path(folder)
        if (folder / "dataset_dict.json").is_file():
            try:
                names = json.loads((folder / "dataset_dict.json").read_text())["splits"]
            except (OSError, ValueError, KeyError, TypeError):
                names = sorted(p.name for p in folder.iterdir() if p.is_dir())
            raise DataError(
                f"{folder}: a DatasetDict folder (splits {names}); name each split's "
                f"folder in the card's files, e.g. files: {{train: train}} "
                f"(relative to the entry's path)"
            )
        if not folder.is_dir() or not (folder / "state.json").is_file():
            raise DataError(
                f"{folder}: not a folder written by datasets' save_to_disk (no "
                f"state.json in it); the save_to_disk format reads one folder per split"
            )
        try:
            ds = datasets.load_from_disk(str(folder))
        except Exception as exc:  # FileNotFoundError, pyarrow errors... on partial folders
            raise DataError(
                f"{folder}: cannot read with datasets.load_from_disk: {type(exc).__name__}: {exc}"
            ) from exc
        parts.append(ds)
    ds = rename_columns(_concat(parts), spec, str(files[0]), card.label)
    if card.modality == "image":
        from harness.data.vision_files import ensure_image_column

        ds = ensure_image_column(ds, card, str(files[0]))
    return ds
