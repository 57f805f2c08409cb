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

# the `options` each format reads (an unknown option is a card error, with a suggestion)
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "glue_tsv": ("header", "names", "columns", "bad_lines", "encoding", "split_options"),
    "csv": ("sep", "header", "names", "columns"),
    "json": ("columns",),
    "lines": ("layout", "sep", "regex", "encoding", "columns"),
    "parallel": ("encoding", "columns"),
    "parquet": ("columns",),
    "npz": ("columns",),
    "idx": (),
    "cifar_pickle": ("label_key", "image_shape"),
    "imagefolder": ("class_map",),
    "svhn_mat": (),
}
