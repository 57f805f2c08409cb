"""Reader for the classic `glue_data/<TASK>/*.tsv` layout."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import datasets

from harness.cards import TaskCard
from harness.data.tabular import rename_columns
from harness.errors import DataError


def read_glue_tsv(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """Read GLUE tsv files: quotes are literal text, a byte-order mark is dropped."""
    import pandas as pd

    opts = spec.get("options") or {}
    frames = []
    for f in files:
        try:
            frames.append(pd.read_csv(f, sep="\t", quoting=csv.QUOTE_NONE, header=0 if opts.get("header", True) else None, names=opts.get("names"), encoding="utf-8-sig", keep_default_na=False, dtype=str))
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{f}: cannot parse as GLUE tsv: {exc}") from exc
    ds = datasets.Dataset.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    return rename_columns(ds, spec, str(files[0]))
