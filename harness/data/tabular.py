"""Readers for generic tables: csv/tsv, json/jsonl, parquet and numpy npz."""

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


def read_csv(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    import pandas as pd

    opts = spec.get("options") or {}
    sep = opts.get("sep", "\t" if str(files[0]).endswith(".tsv") else ",")
    frames = []
    for f in files:
        try:
            frames.append(
                pd.read_csv(
                    f,
                    sep=sep,
                    # as pandas: `names` means the file has no header row, unless `header` says
                    # it has one (then the names replace it)
                    header=opts.get("header", None if opts.get("names") else 0),
                    names=opts.get("names"),
                    encoding="utf-8-sig",
                    keep_default_na=False,
                )
            )
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{f}: cannot parse as csv: {exc}") from exc
    ds = datasets.Dataset.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    return rename_columns(ds, spec, str(files[0]), card.label)


def read_json(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    import pandas as pd

    frames = []
    for f in files:
        try:
            frames.append(pd.read_json(f, lines=str(f).endswith("l")))
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
