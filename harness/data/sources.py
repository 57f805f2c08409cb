"""A card's raw splits as read from its generator or a local data folder, with the data-folder
helpers and the fingerprints that say what was read."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from harness.cards import TaskCard
from harness.data.formats import FORMATS
from harness.errors import ConfigError, DataError
from harness.registry import import_object

logger = logging.getLogger("harness.data.loading")  # the name its messages have always carried
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


# within `one_generation()`: (function, card, arguments) -> the splits its generator returned
_GENERATED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("generated", default=None)


@contextlib.contextmanager
def one_generation() -> Iterator[None]:
    """Within it, a card's generator runs once for all the splits read (`load_task`): a
    generator makes every split at each call, and one call keeps them from one draw."""
    token = _GENERATED.set({})
    try:
        yield
    finally:
        _GENERATED.reset(token)


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


_DIGESTS: dict[tuple, str] = {}  # this process's digests by path and status


def _file_digest(path: Path) -> str:
    """A file's content hash, computed once per process for each path, inode, size and
    modification and change times (a write, or setting the times back, moves the change time,
    as git's index relies on)."""
    st = path.stat()
    memo = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if memo not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[memo] = h.hexdigest()[:16]
    return _DIGESTS[memo]


def files_fingerprint(paths: list[Path]) -> str:
    """Names, sizes and contents of the files read; a folder (an image folder, a `save_to_disk`
    folder) counts every file under it. Contents, not modification times: a copy of the same
    data (a re-provisioned or rsynced data folder) keeps every cache entry and record valid,
    and a file rewritten in place with its old size and time still gets a new fingerprint."""
    entries = []
    for p in paths:
        if p.is_dir():
            entries.append((p.name, "dir"))
            entries.extend(
                (str(f.relative_to(p)), f.stat().st_size, _file_digest(f))
                for f in sorted(p.rglob("*"))
                if f.is_file()
            )
        else:
            entries.append((p.name, p.stat().st_size, _file_digest(p)))
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
    memo, key = _GENERATED.get(), (spec["function"], str(card.path), _hash(called))
    try:
        splits = memo[key] if memo is not None and key in memo else fn(**called)
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
    if memo is not None:
        memo[key] = splits
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
            return ds, _hash([spec["format"], files_fingerprint(paths)]), where
    return None
