"""Checking a split as read against its card: columns, emptiness and labels, with joined
inputs joined."""

from __future__ import annotations

import math
from collections import Counter

import datasets

from harness.cards import TaskCard, _label_text
from harness.data.subsets import column_values
from harness.errors import DataError


def validate_split(
    card: TaskCard, ds: datasets.Dataset, split: str, where: str, dropped: Counter | None = None
) -> datasets.Dataset:
    """Check columns, emptiness and labels; join joined inputs; return the dataset with its
    inputs and integer (class) or float (regression) `labels`. Rows dropped for an unknown
    label (`drop_unknown_labels`) are counted by label value in `dropped`."""
    needed = [*card.file_columns, card.label]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise DataError(
            f"task '{card.name}', split '{split}' ({where}): missing column(s) {missing}; found {ds.column_names}"
        )
    if len(ds) == 0:
        raise DataError(f"task '{card.name}', split '{split}' ({where}): the split is empty")
    context = f"task '{card.name}', split '{split}' ({where})"
    if card.has_classes:
        out, keep, skipped = label_positions(card, _labels_by_name(card, ds, context), context)
        target = datasets.ClassLabel(names=list(card.label_names))
    else:
        out, keep, skipped = [], None, Counter()
        for row, value in enumerate(column_values(ds, card.label)):
            try:
                f = float(value)
            except (TypeError, ValueError):
                f = math.nan
            if not math.isfinite(f):
                raise DataError(f"{context}: row {row}: label {value!r} is not a finite number")
            out.append(f)
        target = datasets.Value("float32")
    ds = ds.select_columns([c for c in needed if c != card.label])
    if keep is not None:
        if not keep:
            raise DataError(
                f"{context}: no row has a label in the label set (dropped {dict(skipped)})"
            )
        ds = ds.select(keep).flatten_indices()
        if dropped is not None:
            dropped.update(skipped)
    ds = ds.add_column("labels", out, feature=target)
    return join_inputs(card, ds)


def _labels_by_name(card: TaskCard, ds: datasets.Dataset, context: str) -> list:
    """The label column, as class names where the data names its classes (a `ClassLabel`
    feature): its integers are positions in the data's own list, which need not be the card's
    order. A card whose names are not the data's is an error showing both lists."""
    feature = ds.features.get(card.label)
    values = column_values(ds, card.label)
    if not isinstance(feature, datasets.ClassLabel) or card.label_map is not None:
        return values
    data_names, card_names = list(feature.names), list(card.label_names)
    if set(data_names) != set(card_names):
        raise DataError(
            f"{context}: the data names its classes {data_names}, the card {card_names}: make the "
            f"card's label_names the data's names (any order), or map them with label_map"
        )
    return [data_names[v] if isinstance(v, int) and 0 <= v < len(data_names) else v for v in values]


def join_inputs(card: TaskCard, ds: datasets.Dataset) -> datasets.Dataset:
    """Each joined input (`text: [title, description]`) as one column `title+description`."""
    for name, parts in card.input_joins.items():
        sep, cols = card.input_separator, [ds[p] for p in parts]
        joined = [sep.join(str(v) for v in vals if v not in (None, "")) for vals in zip(*cols)]
        ds = ds.remove_columns([p for p in parts if p not in card.input_columns]).add_column(
            name, joined
        )
    return ds


def label_positions(
    card: TaskCard, labels: list, context: str
) -> tuple[list[int], list[int] | None, Counter]:
    """Each label value's class position, by one rule that never depends on the type pandas
    guessed for the column:

    1. with a `label_map`, a value (as text) is looked up there;
    2. else a value that is one of the `label_names` is that class;
    3. else a whole number is a position counted from `label_offset` (default 0) — unless the
       names are themselves numbers and no offset is given: then it is ambiguous, an error;
    4. anything else is not in the label set: an error, or with `drop_unknown_labels` the
       row is dropped and counted.

    Returns (positions of the kept rows, the kept row indices or None when all are kept, and
    the dropped values' counts)."""
    names = list(card.label_names)
    index = {n: i for i, n in enumerate(names)}
    numeric_names = all(_whole_number(n) is not None for n in names)
    out, keep, dropped = [], [], Counter()
    bad: dict[str, list] = {}  # value -> [first row, why, count]: every bad value, reported at once
    for row, value in enumerate(labels):
        text = _label_text(value) if value is not None else None
        pos, why = None, ""
        if text is None or text == "" or (isinstance(value, float) and math.isnan(value)):
            why = "the label is missing"
        elif card.label_map is not None:
            if text in card.label_map:
                pos = index[card.label_map[text]]
            else:
                why = f"not a key of label_map {sorted(card.label_map)}"
        elif text in index and (card.label_offset is None or _whole_number(text) is None):
            pos = index[text]
        elif (number := _whole_number(text)) is not None:
            if numeric_names and card.label_offset is None:
                raise DataError(
                    f"{context}: row {row}: label {value!r} is not one of the label names {names}, and the names "
                    f"are numbers, so it is unclear whether labels are names or positions. Fix: set "
                    f"label_map (value -> name) in the card, or label_offset if labels are positions counted "
                    f"from a number (e.g. label_offset: 1 for labels 1..{len(names)})"
                )
            p = number - (card.label_offset or 0)
            if 0 <= p < len(names):
                pos = p
            else:
                lo = card.label_offset or 0
                why = f"outside the positions {lo}..{lo + len(names) - 1}" + (
                    ""
                    if card.label_offset is not None
                    else "; if labels count from 1, set label_offset: 1 (or a label_map)"
                )
        else:
            why = "neither a name nor a whole-number position"
        if pos is None:
            if card.drop_unknown_labels:
                dropped[str(value)] += 1
                continue
            entry = bad.setdefault(repr(value), [row, why, 0])
            entry[2] += 1
            continue
        out.append(pos)
        keep.append(row)
    if bad:
        listed = "; ".join(
            f"row {r}: label {v} is not in the label set {names} ({why})"
            f"{f' [{n} rows]' if n > 1 else ''}"
            for v, (r, why, n) in bad.items()
        )
        raise DataError(
            f"{context}: {len(bad)} distinct label value(s) outside the label set: {listed}. Fix the "
            f"data, map them with label_map, or set drop_unknown_labels: true to drop such rows"
        )
    return out, (keep if dropped else None), dropped


def _whole_number(text: str) -> int | None:
    t = text.strip()
    return int(t) if t.lstrip("-").isdigit() else None
