"""Readers for local data layouts, registered by the `format` name a card uses.

A reader takes the files of one split (resolved paths, in the order the card lists them),
the card's local spec (its `options` mapping holds reader settings) and the card, and
returns a `datasets.Dataset` whose columns are the card's input and label columns.
Readers are lazy registry entries, so listing cards imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.registry import Registry

if TYPE_CHECKING:
    import datasets

    from harness.cards import TaskCard


class Reader(Protocol):
    def __call__(
        self, files: list[Path], spec: dict[str, Any], card: TaskCard
    ) -> datasets.Dataset: ...


FORMATS: Registry[Reader] = Registry("data format")
FORMATS.register("glue_tsv", "harness.data.glue_tsv:read_glue_tsv")
FORMATS.register("csv", "harness.data.tabular:read_csv")
FORMATS.register("json", "harness.data.tabular:read_json")
FORMATS.register("lines", "harness.data.text_lines:read_lines")
FORMATS.register("parallel", "harness.data.text_lines:read_parallel")
FORMATS.register("parquet", "harness.data.tabular:read_parquet")
FORMATS.register("npz", "harness.data.tabular:read_npz")
FORMATS.register("idx", "harness.data.vision_files:read_idx")
FORMATS.register("cifar_pickle", "harness.data.vision_files:read_cifar_pickle")
FORMATS.register("imagefolder", "harness.data.vision_files:read_imagefolder")
FORMATS.register("svhn_mat", "harness.data.vision_files:read_svhn_mat")
FORMATS.register("save_to_disk", "harness.data.tabular:read_save_to_disk")

# the `options` each format reads (an unknown option is a card error, with a suggestion)
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "glue_tsv": ("header", "names", "columns", "bad_lines", "encoding", "split_options"),
    "csv": ("sep", "header", "names", "columns"),
    "json": ("field", "columns"),
    "lines": ("layout", "sep", "regex", "encoding", "columns"),
    "parallel": ("encoding", "columns"),
    "parquet": ("columns",),
    "npz": ("columns",),
    "idx": (),
    "cifar_pickle": ("label_key", "image_shape"),
    "imagefolder": ("class_map", "label_level", "label_path"),
    "svhn_mat": (),
    "save_to_disk": ("columns",),
}
POSITIONAL_COLUMNS = ("csv",)  # formats whose `options.columns` keys may be positions


def check_options(fmt: str, options: dict[str, Any]) -> list[tuple[str, str]]:
    """(option, problem) for option values a format cannot use (names are checked by the card)."""
    problems: list[tuple[str, str]] = []
    columns = options.get("columns")
    if columns is not None and fmt != "glue_tsv":  # glue_tsv checks its own
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            problems.append(("columns", "must map file columns to card columns (names)"))
        else:
            for key in columns:
                position = isinstance(key, int) and not isinstance(key, bool)
                if position and fmt not in POSITIONAL_COLUMNS:
                    problems.append(
                        (
                            "columns",
                            f"key {key!r} is a number: format {fmt} finds "
                            f"columns by name; write the column's name (quoted, "
                            f'"{key}": ..., if it is named {key})',
                        )
                    )
                elif position and key < 0:
                    problems.append(
                        ("columns", f"position {key} is negative; 0 is the first column")
                    )
                elif not position and not isinstance(key, str):
                    problems.append(
                        (
                            "columns",
                            f"key {key!r} must be a column name or, for "
                            f"csv, a position (0 is the first column)",
                        )
                    )
    if (
        fmt == "json"
        and "field" in options
        and not (isinstance(options["field"], str) and options["field"])
    ):
        problems.append(
            (
                "field",
                f"must be the name of the top-level field holding the records, "
                f"got {options['field']!r}",
            )
        )
    if fmt == "imagefolder":
        level = options.get("label_level", 1)
        if isinstance(level, bool) or not isinstance(level, int) or level < 1:
            problems.append(
                (
                    "label_level",
                    f"must be a whole number from 1 (the folders right "
                    f"under the split's folder), got {level!r}",
                )
            )
        if not isinstance(options.get("label_path", False), bool):
            problems.append(("label_path", "must be true or false"))
        if "class_map" in options and not isinstance(options["class_map"], dict):
            problems.append(("class_map", "must map folder names to label names"))
    return problems
