"""Load a card's splits from its generator, a local folder or the Hub, and validate them.

The source is chosen here, where the Hub is also read; the generator and local readers are in
`sources`, the checks of a split in `split_validation`, the cutting of splits in `resplitting`."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from harness.card_schema import parse_split_ref, slice_rows
from harness.cards import TaskCard
from harness.data.resplitting import (
    MIN_ROWS_PER_CLASS,
    _classes_without_training_rows,
    holdout,
    resplit,
)
from harness.data.sources import (
    DATA_DIR_ENV,
    DATA_DIR_TOKEN,
    SOURCES,
    RawSplit,
    _hash,
    _load_generator,
    _load_local,
    content_fingerprint,
    one_generation,
    resolve_data_dir,
    resolve_data_dirs,
)
from harness.data.split_validation import join_inputs, label_positions, validate_split
from harness.errors import ConfigError, DataError, TransferBenchError

__all__ = [
    "DATA_DIR_ENV",
    "DATA_DIR_TOKEN",
    "HUB_CHECK_SECONDS",
    "MIN_ROWS_PER_CLASS",
    "SOURCES",
    "HubUnreachable",
    "RawSplit",
    "TaskData",
    "content_fingerprint",
    "holdout",
    "hub_unreachable",
    "join_inputs",
    "label_positions",
    "load_raw_split",
    "load_source_split",
    "load_task",
    "resolve_data_dir",
    "resolve_data_dirs",
    "resplit",
    "validate_split",
]

logger = logging.getLogger(__name__)


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
        with one_generation():
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
