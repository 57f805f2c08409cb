"""Load a card's splits from its generator, a local folder or the Hub, and validate them."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from harness.cards import TaskCard
from harness.data.formats import FORMATS
from harness.errors import ConfigError, DataError, TransferBenchError
from harness.registry import import_object

logger = logging.getLogger(__name__)
DATA_DIR_ENV = "TRANSFERBENCH_DATA_DIR"
SOURCES = ("auto", "generator", "local", "hub")


def resolve_data_dirs(data_dir: str | Path | list | None = None) -> list[Path]:
    """The data folders, searched in order: `--data_dir` wins over `$TRANSFERBENCH_DATA_DIR`;
    either may list several folders separated by `os.pathsep` (`:` on Linux)."""
    if isinstance(data_dir, list):
        return [Path(d).expanduser() for d in data_dir]
    value = str(data_dir) if data_dir else os.environ.get(DATA_DIR_ENV, "")
    return [Path(v).expanduser() for v in value.split(os.pathsep) if v.strip()]


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The first data folder (None when none is set)."""
    dirs = resolve_data_dirs(data_dir)
    return dirs[0] if dirs else None


@dataclass
class TaskData:
    """The three splits a run uses, with where they came from."""

    card: TaskCard
    train: datasets.Dataset
    validation: datasets.Dataset
    test: datasets.Dataset
    source: str
    fingerprints: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label value -> rows

    def split(self, role: str) -> datasets.Dataset:
        return getattr(self, role)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_fingerprint(ds: datasets.Dataset) -> str:
    """A hash of a dataset's rows as read (its Arrow data, column names and types included), so
    data that changed under the same card, generator arguments or Hub path gets a new one."""
    import pyarrow as pa

    if getattr(ds, "_indices", None) is not None:
        ds = ds.flatten_indices()
    table = ds.data.table if hasattr(ds.data, "table") else ds.data
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def _file_fingerprint(paths: list[Path]) -> str:
    """Names, sizes and times of the files read; a folder (an image folder, a `save_to_disk`
    folder) counts every file under it, so a file rewritten in place gives a new one."""
    entries = []
    for p in paths:
        entries.append((p.name, p.stat().st_size, p.stat().st_mtime_ns))
        if p.is_dir():
            entries.extend(
                (str(f.relative_to(p)), f.stat().st_size, f.stat().st_mtime_ns)
                for f in sorted(p.rglob("*"))
                if f.is_file()
            )
    return _hash(entries)


DATA_DIR_TOKEN = "{data_dir}"  # in a generator's kwargs: the data folder


def _with_data_dir(value: Any, data_dirs: list[Path], where: str) -> Any:
    """A generator argument with `{data_dir}` replaced by the data folder: the first folder in
    which the path it makes exists (several folders are searched in order), else the first."""
    if isinstance(value, dict):
        return {k: _with_data_dir(v, data_dirs, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_with_data_dir(v, data_dirs, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or DATA_DIR_TOKEN not in value:
        return value
    if not data_dirs:
        raise ConfigError(
            f"{where}': {value!r} names the data folder, and none is set: set "
            f"--data_dir or ${DATA_DIR_ENV}"
        )
    made = [value.replace(DATA_DIR_TOKEN, str(d)) for d in data_dirs]
    return next((m for m in made if Path(m).exists()), made[0])


def _load_generator(
    card: TaskCard, split: str, data_dirs: list[Path] | None = None
) -> tuple[datasets.Dataset, str]:
    spec = card.data["generator"]
    where = f"{card.path or card.name}: field 'data.generator"
    try:
        fn = _resolve_function(spec["function"], card)
    except ConfigError as exc:
        raise ConfigError(f"{where}.function': {exc}") from exc
    kwargs = dict(spec.get("kwargs") or {})  # as the card writes them: the fingerprint's
    called = _with_data_dir(kwargs, data_dirs or [], f"{where}.kwargs")
    try:
        splits = fn(**called)
    except TypeError as exc:
        raise ConfigError(f"{where}.kwargs': {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - user code: any failure is reported, with its type
        raise DataError(
            f"task '{card.name}' ({card.path}): generator {spec['function']} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(splits, dict) or not all(
        isinstance(d, datasets.Dataset) for d in splits.values()
    ):
        raise DataError(
            f"task '{card.name}' ({card.path}): generator {spec['function']} must return "
            f"{{split name: datasets.Dataset}}, got {type(splits).__name__}"
        )
    if split not in splits:
        raise ConfigError(
            f"{card.path}: field 'splits': generator makes splits {sorted(splits)}, not '{split}'"
        )
    # what the generator produced, not only how it was called: a generator that reads a folder
    # (a save_to_disk copy, say) gives new data under the same arguments
    return splits[split], _hash(
        [spec["function"], kwargs, split, content_fingerprint(splits[split])]
    )


def _resolve_function(ref: str, card: TaskCard):
    """`module:fn`, or `file.py:fn` relative to the card's folder (for --include_path cards)."""
    module, _, attr = ref.partition(":")
    if module.endswith(".py") and card.path is not None:
        import importlib.util

        file = (card.path.parent / module).resolve()
        if not file.exists():
            raise ConfigError(f"{card.path}: field 'data.generator.function': {file} not found")
        mod_spec = importlib.util.spec_from_file_location(f"_tb_gen_{file.stem}", file)
        mod = importlib.util.module_from_spec(mod_spec)
        try:
            mod_spec.loader.exec_module(mod)
        except Exception as exc:
            raise ConfigError(
                f"{card.path}: field 'data.generator.function': cannot load {file}: {type(exc).__name__}: {exc}"
            ) from exc
        fn = getattr(mod, attr, None) if attr else None
        if not callable(fn):
            raise ConfigError(
                f"{card.path}: field 'data.generator.function': {file} has no function '{attr}'"
            )
        return fn
    return import_object(ref)


@dataclass
class RawSplit:
    """One split as read, before validation: where it came from, for messages and provenance."""

    dataset: datasets.Dataset
    source: str  # generator | local | hub
    fingerprint: str
    where: str  # the files, the generator function or the Hub dataset


def _load_local(
    card: TaskCard, split: str, data_dirs: list[Path], tried: list[str]
) -> tuple[datasets.Dataset, str, str] | None:
    for spec in card.data.get("local", []):
        files = spec["files"].get(split)
        for data_dir in data_dirs:
            root = data_dir / spec["path"]
            if files is None:
                tried.append(
                    f"{root} (format {spec['format']}: no file listed for split '{split}')"
                )
                break
            names = (
                list(files.values())
                if isinstance(files, dict)
                else [files]
                if isinstance(files, str)
                else files
            )
            paths = [root / f for f in names]
            missing = [p for p in paths if not p.exists()]
            if missing:
                tried.extend(str(p) for p in missing)
                continue
            reader = FORMATS.get(spec["format"])
            if isinstance(files, dict):  # parallel files: one column each
                spec = {**spec, "columns_of_files": list(files)}
            logger.info("loading %s/%s from %s", card.name, split, root)
            ds = reader(paths, spec, card)
            where = ", ".join(map(str, paths))
            return ds, _hash([spec["format"], _file_fingerprint(paths)]), where
    return None


HUB_CHECK_SECONDS = 5.0  # how long the check that the Hub answers waits
_hub_answers: dict[str, str | None] = {}  # endpoint -> None (it answers) or why not


class HubUnreachable(Exception):
    """The Hub does not answer (and the Hub libraries would retry for minutes)."""


def _hub_offline() -> bool:
    """Offline mode (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE): the Hub's cache is read, no network."""
    import huggingface_hub.constants

    flags = [os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")]
    return any(f.strip().upper() in ("1", "ON", "YES", "TRUE") for f in flags) or bool(
        getattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        or getattr(datasets.config, "HF_HUB_OFFLINE", False)
        or getattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    )


def hub_unreachable(timeout: float = HUB_CHECK_SECONDS) -> str | None:
    """None when the Hub's endpoint ($HF_ENDPOINT, else huggingface.co) answers an HTTP request
    within `timeout` seconds (any answer: an error status is an answer); else why not. Asked
    once per endpoint and process, with the Hub library's own HTTP session (its proxies,
    certificates and headers) and no retries."""
    import huggingface_hub.constants

    endpoint = (os.environ.get("HF_ENDPOINT") or huggingface_hub.constants.ENDPOINT).rstrip("/")
    if endpoint not in _hub_answers:
        why = None
        try:
            from huggingface_hub.utils import get_session

            get_session().head(endpoint, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - refused, timed out, no route, bad URL...
            why = f"{endpoint} does not answer ({type(exc).__name__}: {str(exc)[:200]})"
        _hub_answers[endpoint] = why
    return _hub_answers[endpoint]


def _load_hub(card: TaskCard, split: str) -> tuple[datasets.Dataset, str]:
    hub = card.data["hub"]
    if not Path(hub["path"]).expanduser().exists() and not _hub_offline():
        why = hub_unreachable()  # fail in seconds, not after minutes of retries
        if why:
            raise HubUnreachable(why)
    kwargs = {"path": hub["path"], "split": split}
    if hub.get("name"):
        kwargs["name"] = hub["name"]
    if hub.get("revision"):
        kwargs["revision"] = hub["revision"]
    ds = datasets.load_dataset(**kwargs)
    # a local `hub:` folder can change under the same path: the rows read decide
    return ds, _hash([hub, split, content_fingerprint(ds)])


def load_raw_split(
    card: TaskCard, split: str, data_dir: Path | None = None, source: str = "auto"
) -> tuple[datasets.Dataset, str, str]:
    """Load one source split by name. Returns (dataset, source used, fingerprint)."""
    raw = load_source_split(card, split, data_dir, source)
    return raw.dataset, raw.source, raw.fingerprint


def load_source_split(
    card: TaskCard, split: str, data_dir: Any = None, source: str = "auto"
) -> RawSplit:
    """Load one source split by name (a slice such as `test[:80%]` selects its rows)."""
    from harness.cards import parse_split_ref, slice_rows

    name, start, stop = parse_split_ref(split)
    raw = _load_source_split(card, name, data_dir, source)
    if start is not None or stop is not None:
        rows = slice_rows(len(raw.dataset), start, stop)
        raw = RawSplit(
            raw.dataset.select(rows),
            raw.source,
            f"{raw.fingerprint}[{start}:{stop}]",
            f"{raw.where} rows [{start or ''}:{stop or ''}]",
        )
    return raw


def _load_source_split(card: TaskCard, split: str, data_dir: Any, source: str) -> RawSplit:
    data_dirs = resolve_data_dirs(data_dir)
    if source not in SOURCES:
        raise ConfigError(f"unknown data source '{source}'; use one of {', '.join(SOURCES)}")
    tried: list[str] = []
    hint = ""
    if source in ("auto", "generator") and "generator" in card.data:
        ds, fp = _load_generator(card, split, data_dirs)
        return RawSplit(ds, "generator", fp, f"generator {card.data['generator']['function']}")
    if source in ("auto", "local") and "local" in card.data:
        if not data_dirs:
            tried.append(f"local files: no data dir (set --data_dir or ${DATA_DIR_ENV})")
        else:
            found = _load_local(card, split, data_dirs, tried)
            if found:
                return RawSplit(found[0], "local", found[1], found[2])
    if source in ("auto", "hub") and "hub" in card.data:
        try:
            ds, fp = _load_hub(card, split)
            return RawSplit(ds, "hub", fp, f"hub:{card.data['hub']['path']}")
        except TransferBenchError:
            raise
        except Exception as exc:  # offline, unknown dataset, bad revision...
            why = str(exc).splitlines()[0][:200] if str(exc) else ""
            tried.append(f"hub:{card.data['hub']['path']} ({type(exc).__name__}: {why})")
            hint = _hub_hint(card, exc)
    if not tried:
        tried.append(f"no '{source}' source in the card")
    where = card.path or card.name
    raise DataError(
        f"task '{card.name}' ({where}): cannot find split '{split}'. Tried:\n  "
        + "\n  ".join(tried)
        + hint
    )


def _hub_hint(card: TaskCard, exc: Exception) -> str:
    """What to set when the Hub does not answer."""
    if not isinstance(exc, HubUnreachable):
        return ""
    local = (
        f"--data_dir or ${DATA_DIR_ENV} to the data folder holding the local files (the "
        f"paths above are where they were looked for), or "
        if "local" in card.data
        else ""
    )
    return (
        f"\nThe Hub cannot be reached. Set {local}HF_HUB_OFFLINE=1 to read a copy in the "
        f"Hugging Face cache without the network"
    )


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
        for row, value in enumerate(ds[card.label]):
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
    values = ds[card.label]
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
    from harness.cards import _label_text

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


def load_task(
    card: TaskCard,
    data_dir: str | Path | None = None,
    source: str = "auto",
    roles: tuple[str, ...] = ("train", "validation", "test"),
) -> TaskData:
    """Load and validate the card's train, validation and scored (test) splits.

    When the card names no validation split, a seeded, stratified `validation_fraction` of
    train is held out, the same for every run, so model selection never sees the scored split.
    Nothing is written under a data folder: `datasets` would put the cache files of its
    transforms (`cache-*.arrow`) beside a `save_to_disk` copy, which then broke the `hub:`
    route to that folder; while loading, its caching is off (transforms go to temporary files).
    """
    was = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        return _load_task(card, data_dir, source, roles)
    finally:
        if was:
            datasets.enable_caching()


def _load_task(
    card: TaskCard, data_dir: str | Path | None, source: str, roles: tuple[str, ...]
) -> TaskData:
    loaded: dict[str, datasets.Dataset] = {}
    fingerprints: dict[str, str] = {}
    dropped: dict[str, dict[str, int]] = {}
    used = set()
    need = set(roles)
    if card.resplit:  # one source split cut into train / validation / test
        need |= {r for r in ("train", "validation", "test") if r in card.resplit}
    if "validation" in need and not card.splits.get("validation"):
        need.add("train")
    raws: dict[str, tuple[datasets.Dataset, RawSplit, Counter]] = {}
    for role in ("train", "validation", "test"):
        split = card.splits.get(role)
        if role not in need or not split:
            continue
        if split not in raws:
            raw = load_source_split(card, split, data_dir, source)
            counts: Counter = Counter()
            ds = validate_split(card, raw.dataset, split, raw.where, counts)
            if counts:
                logger.warning(
                    "task %s, split %s (%s): dropped %d row(s) whose label is not in the label "
                    "set: %s",
                    card.name,
                    split,
                    raw.where,
                    sum(counts.values()),
                    dict(counts),
                )
            raws[split] = (ds, raw, counts)
        ds, raw, counts = raws[split]
        loaded[role], fingerprints[role] = ds, raw.fingerprint
        if counts:
            dropped[split] = dict(counts)
        used.add(raw.source)
    classless = None
    if card.has_classes and "train" in loaded:
        classless = _classes_without_training_rows(
            card, loaded["train"], dropped.get(card.splits.get("train"), {})
        )
    if card.resplit:
        parts = resplit(card, loaded["train"])
        for role, ds in parts.items():
            loaded[role] = ds
            fingerprints[role] = f"{fingerprints['train']}-resplit-{role}"
    if "validation" in need and "validation" not in loaded:
        loaded["train"], loaded["validation"] = holdout(card, loaded["train"])
        fingerprints["validation"] = fingerprints["train"] + "-holdout"
    if classless:
        raise DataError(classless)
    empty = datasets.Dataset.from_dict({})
    return TaskData(
        card=card,
        train=loaded.get("train", empty),
        validation=loaded.get("validation", empty),
        test=loaded.get("test", empty),
        source="+".join(sorted(used)),
        fingerprints=fingerprints,
        dropped=dropped,
    )


MIN_ROWS_PER_CLASS = 5  # a training split this size that misses a class misses it for a reason


def _classes_without_training_rows(
    card: TaskCard, train: datasets.Dataset, dropped: dict[str, int]
) -> str | None:
    """The error when a class of the card has no training row: a model cannot learn it, and
    the usual cause is labels counted from 1 read as positions from 0 (class K's rows dropped
    as out of range, every other class shifted by one)."""
    present = set(train["labels"])
    missing = [name for i, name in enumerate(card.label_names) if i not in present]
    if not missing:
        return None
    k = len(card.label_names)
    off_by_one = card.label_offset is None and dropped and set(dropped) == {str(k)}
    hint = (
        f" The rows dropped as out of range all have label {k}, the end of 1..{k}: the labels count "
        f"from 1; set label_offset: 1."
        if off_by_one
        else ""
    )
    message = (
        f"task '{card.name}': class(es) {missing} have no training row (of {len(train)}); a model "
        f"cannot learn them.{hint} Check label_names, label_map and label_offset."
    )
    if off_by_one or len(train) >= MIN_ROWS_PER_CLASS * k:
        return message
    # a split this small may simply not hold every class (a sample, a fixture): said, not fatal
    logger.warning("%s (the split has fewer than %d rows per class)", message, MIN_ROWS_PER_CLASS)
    return None


def resplit(card: TaskCard, ds: datasets.Dataset) -> dict[str, datasets.Dataset]:
    """Cut one split into the card's `resplit` fractions: seeded and stratified by class (each
    class is shuffled and cut at the same fractions, rounding by largest remainder)."""
    import numpy as np

    roles = [r for r in ("train", "validation", "test") if r in card.resplit]
    fractions = np.array([float(card.resplit[r]) for r in roles])
    rng = np.random.default_rng(int(card.resplit.get("seed", 0)))
    labels = np.asarray(ds["labels"])
    groups = (
        [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if card.has_classes
        else [np.arange(len(ds))]
    )
    rows: dict[str, list[int]] = {r: [] for r in roles}
    for group in groups:
        group = rng.permutation(group)
        exact = fractions * len(group)
        counts = np.floor(exact).astype(int)
        for i in np.argsort(-(exact - counts), kind="stable")[: len(group) - counts.sum()]:
            counts[i] += 1
        for role, chunk in zip(roles, np.split(group, np.cumsum(counts)[:-1])):
            rows[role].extend(chunk.tolist())
    for role in roles:
        if not rows[role]:
            raise DataError(
                f"task '{card.name}': resplit leaves split '{role}' empty ({len(ds)} rows in all)"
            )
    return {role: ds.select(sorted(rows[role])) for role in roles}


def holdout(
    card: TaskCard, train: datasets.Dataset, seed: int = 0
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split train into (train, validation) with the card's validation fraction."""
    n_val = max(1, int(round(len(train) * card.validation_fraction)))
    if len(train) - n_val < 1:
        raise DataError(
            f"task '{card.name}': train split has {len(train)} rows, too few to hold out a validation split"
        )
    stratify = "labels" if card.has_classes and n_val >= card.num_labels else None
    try:
        parts = train.train_test_split(test_size=n_val, seed=seed, stratify_by_column=stratify)
    except ValueError:  # a class with a single row can't be stratified
        parts = train.train_test_split(test_size=n_val, seed=seed)
    return parts["train"], parts["test"]
