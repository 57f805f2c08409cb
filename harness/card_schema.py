"""What a task card may hold: its fields, the values they take, and how a split reference such
as `test[:80%]` reads."""

from __future__ import annotations

import re

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
