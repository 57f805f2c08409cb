"""Load a card's splits from its generator, a local folder or the Hub, and validate them."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
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


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """`--data_dir` wins over `$TRANSFERBENCH_DATA_DIR`; None when neither is set."""
    value = data_dir or os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


@dataclass
class TaskData:
    """The three splits a run uses, with where they came from."""

    card: TaskCard
    train: datasets.Dataset
    validation: datasets.Dataset
    test: datasets.Dataset
    source: str
    fingerprints: dict[str, str] = field(default_factory=dict)

    def split(self, role: str) -> datasets.Dataset:
        return getattr(self, role)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_fingerprint(paths: list[Path]) -> str:
    return _hash([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths])


def _load_generator(card: TaskCard, split: str) -> tuple[datasets.Dataset, str]:
    spec = card.data["generator"]
    fn = _resolve_function(spec["function"], card)
    kwargs = dict(spec.get("kwargs") or {})
    try:
        splits = fn(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{card.path}: field 'data.generator.kwargs': {exc}") from exc
    if split not in splits:
        raise ConfigError(
            f"{card.path}: field 'splits': generator makes splits {sorted(splits)}, not '{split}'"
        )
    return splits[split], _hash([spec["function"], kwargs, split])


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


def _load_local(
    card: TaskCard, split: str, data_dir: Path, tried: list[str]
) -> tuple[datasets.Dataset, str] | None:
    for spec in card.data.get("local", []):
        files = spec["files"].get(split)
        root = data_dir / spec["path"]
        if files is None:
            tried.append(f"{root} (format {spec['format']}: no file listed for split '{split}')")
            continue
        paths = [root / f for f in ([files] if isinstance(files, str) else files)]
        missing = [p for p in paths if not p.exists()]
        if missing:
            tried.extend(str(p) for p in missing)
            continue
        reader = FORMATS.get(spec["format"])
        logger.info("loading %s/%s from %s", card.name, split, root)
        return reader(paths, spec, card), _hash([spec["format"], _file_fingerprint(paths)])
    return None


def _load_hub(card: TaskCard, split: str) -> tuple[datasets.Dataset, str]:
    hub = card.data["hub"]
    kwargs = {"path": hub["path"], "split": split}
    if hub.get("name"):
        kwargs["name"] = hub["name"]
    if hub.get("revision"):
        kwargs["revision"] = hub["revision"]
    ds = datasets.load_dataset(**kwargs)
    return ds, _hash([hub, split])


def load_raw_split(
    card: TaskCard, split: str, data_dir: Path | None = None, source: str = "auto"
) -> tuple[datasets.Dataset, str, str]:
    """Load one source split by name. Returns (dataset, source used, fingerprint)."""
    data_dir = resolve_data_dir(data_dir)
    if source not in SOURCES:
        raise ConfigError(f"unknown data source '{source}'; use one of {', '.join(SOURCES)}")
    tried: list[str] = []
    if source in ("auto", "generator") and "generator" in card.data:
        ds, fp = _load_generator(card, split)
        return ds, "generator", fp
    if source in ("auto", "local") and "local" in card.data:
        if data_dir is None:
            tried.append(f"local files: no data dir (set --data_dir or ${DATA_DIR_ENV})")
        else:
            found = _load_local(card, split, data_dir, tried)
            if found:
                return found[0], "local", found[1]
    if source in ("auto", "hub") and "hub" in card.data:
        try:
            ds, fp = _load_hub(card, split)
            return ds, "hub", fp
        except TransferBenchError:
            raise
        except Exception as exc:  # offline, unknown dataset, bad revision...
            tried.append(
                f"hub:{card.data['hub']['path']} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            )
    if not tried:
        tried.append(f"no '{source}' source in the card")
    where = card.path or card.name
    raise DataError(
        f"task '{card.name}' ({where}): cannot find split '{split}'. Tried:\n  "
        + "\n  ".join(tried)
    )


def validate_split(
    card: TaskCard, ds: datasets.Dataset, split: str, where: str
) -> datasets.Dataset:
    """Check columns, emptiness and labels; return the dataset with integer/float labels."""
    needed = [*card.input_columns, card.label]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise DataError(
            f"task '{card.name}', split '{split}' ({where}): missing column(s) {missing}; found {ds.column_names}"
        )
    if len(ds) == 0:
        raise DataError(f"task '{card.name}', split '{split}' ({where}): the split is empty")
    labels = ds[card.label]
    if card.problem == "classification":
        names = list(card.label_names)
        index = {n: i for i, n in enumerate(names)}
        out = []
        for row, value in enumerate(labels):
            if isinstance(value, str) and value in index:
                out.append(index[value])
                continue
            try:
                as_int = int(value)
                ok = as_int == value or (
                    isinstance(value, str) and value.strip().lstrip("-").isdigit()
                )
            except (TypeError, ValueError):
                ok = False
            if not ok or not 0 <= as_int < len(names):
                raise DataError(
                    f"task '{card.name}', split '{split}' ({where}): row {row}: label {value!r} is not in the "
                    f"label set {names} (indices 0..{len(names) - 1})"
                )
            out.append(as_int)
        target = datasets.ClassLabel(names=names)
    else:
        out = []
        for row, value in enumerate(labels):
            try:
                f = float(value)
            except (TypeError, ValueError):
                f = math.nan
            if not math.isfinite(f):
                raise DataError(
                    f"task '{card.name}', split '{split}' ({where}): row {row}: label {value!r} is not a finite number"
                )
            out.append(f)
        target = datasets.Value("float32")
    keep = [c for c in needed if c != card.label]
    ds = ds.select_columns(keep)
    return ds.add_column("labels", out, feature=target)


def load_task(
    card: TaskCard,
    data_dir: str | Path | None = None,
    source: str = "auto",
    roles: tuple[str, ...] = ("train", "validation", "test"),
) -> TaskData:
    """Load and validate the card's train, validation and scored (test) splits.

    When the card names no validation split, a seeded, stratified `validation_fraction` of
    train is held out, the same for every run, so model selection never sees the scored split.
    """
    data_dir = resolve_data_dir(data_dir)
    loaded: dict[str, datasets.Dataset] = {}
    fingerprints: dict[str, str] = {}
    used = set()
    need = set(roles)
    if "validation" in need and not card.splits.get("validation"):
        need.add("train")
    for role in ("train", "validation", "test"):
        split = card.splits.get(role)
        if role not in need or not split:
            continue
        ds, src, fp = load_raw_split(card, split, data_dir, source)
        loaded[role] = validate_split(card, ds, split, f"{src} source")
        fingerprints[role] = fp
        used.add(src)
    if "validation" in need and "validation" not in loaded:
        loaded["train"], loaded["validation"] = holdout(card, loaded["train"])
        fingerprints["validation"] = fingerprints["train"] + "-holdout"
    empty = datasets.Dataset.from_dict({})
    return TaskData(
        card=card,
        train=loaded.get("train", empty),
        validation=loaded.get("validation", empty),
        test=loaded.get("test", empty),
        source="+".join(sorted(used)),
        fingerprints=fingerprints,
    )


def holdout(
    card: TaskCard, train: datasets.Dataset, seed: int = 0
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split train into (train, validation) with the card's validation fraction."""
    n_val = max(1, int(round(len(train) * card.validation_fraction)))
    if len(train) - n_val < 1:
        raise DataError(
            f"task '{card.name}': train split has {len(train)} rows, too few to hold out a validation split"
        )
    stratify = "labels" if card.problem == "classification" and n_val >= card.num_labels else None
    try:
        parts = train.train_test_split(test_size=n_val, seed=seed, stratify_by_column=stratify)
    except ValueError:  # a class with a single row can't be stratified
        parts = train.train_test_split(test_size=n_val, seed=seed)
    return parts["train"], parts["test"]
