"""The data side of a run: each task loaded and encoded once, and the rows a run uses of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.cache import Cache, main_process_first
from harness.cards import TaskCard
from harness.data.loading import TaskData, load_task
from harness.data.subsets import EVAL_SAMPLE_SEED, fraction_indices, stratified_sample
from harness.errors import DataError
from harness.preprocess import InputPipeline, encode_split, row_lengths
from harness.spec import RunSpec
from harness.taskregistry import TaskRegistry
from harness.training import TaskSplits

ROLES = ("train", "validation", "test")


class TaskStore:
    """Loads each task once per process and encodes each split once per input pipeline
    (through the cache, so once per machine)."""

    def __init__(self, registry: TaskRegistry, data_dir: Any, cache: Cache):
        self.registry = registry
        self.data_dir = data_dir
        self.cache = cache
        self._data: dict[str, TaskData] = {}
        self._encoded: dict[tuple[str, str, str], Any] = {}

    def data(self, name: str) -> TaskData:
        if name not in self._data:
            with main_process_first(self.cache.accelerator):  # the Hub's downloads, once
                self._data[name] = load_task(self.registry.get(name), self.data_dir)
        return self._data[name]

    def encoded(self, name: str, pipeline: InputPipeline, role: str):
        key = (name, pipeline.identity, role)
        if key not in self._encoded:
            self._encoded[key] = encode_split(pipeline, self.data(name), role, self.cache)
        return self._encoded[key]


@dataclass
class RunSplits:
    """The rows one run uses: the target's seeded training fraction, its evaluation splits
    (sampled under `--limit`), and the capped splits of its sources and task-set tasks."""

    spec: RunSpec
    card: TaskCard
    store: TaskStore
    pipeline: InputPipeline

    def __post_init__(self) -> None:
        self.train_indices = self.run_rows(self.spec.target)
        if not self.train_indices:
            raise DataError(
                f"task '{self.card.name}': fraction {self.spec.fraction} leaves no training rows"
            )

    def run_rows(self, name: str) -> list[int]:
        """The training rows of `name` that a single-task run on it at this run's fraction and
        seed uses: `max_train_samples` (the task's training pool), then the seeded fraction of
        that pool, then `--limit`, each a seeded, stratified sample of the one before. So a
        fraction is of the rows the suite trains on: at a cap of 300, 25 % is 75 rows whatever
        the split's size, inside the 300 of fraction 1 at the same seed."""
        card = self.store.registry.get(name)
        labels = self.store.encoded(name, self.pipeline, "train")["labels"]
        stratify = card.has_classes
        seed = self.spec.seed
        cap = self.spec.train_cap(name)
        rows = stratified_sample(labels, cap, seed, stratify) if cap else None
        rows = fraction_indices(labels, self.spec.fraction, seed, stratify, among=rows)
        if self.spec.limit:
            rows = stratified_sample(labels, self.spec.limit, seed, stratify, among=rows)
        return rows

    @property
    def caps(self) -> dict[str, int] | None:
        """The sample caps, for cache keys (None when unset, so older keys stay valid)."""
        caps = {
            "max_train_samples": self.spec.max_train_samples,
            "max_eval_samples": self.spec.max_eval_samples,
            "max_test_samples": self.spec.max_test_samples,
            "max_train_samples_per_task": self.spec.max_train_samples_per_task,
        }
        return {k: v for k, v in caps.items() if v} or None

    def cap(self, role: str, task: str | None = None) -> int | None:
        """How many rows of a split a run may use: `--limit`, and `max_train_samples` for train
        (sources and task sets; the target's fraction is capped in `__post_init__`) or
        `max_eval_samples` for validation (model selection) or `max_test_samples` for the scored
        split (one fixed stratified sample, the same for every run, seed and method)."""
        train_cap = self.spec.train_cap(task) if task else self.spec.max_train_samples
        role_cap = {
            "train": train_cap,
            "validation": self.spec.max_eval_samples,
            "test": self.spec.max_test_samples,
        }.get(role)
        return min((c for c in (self.spec.limit, role_cap) if c), default=None)

    def rows(self, role: str) -> list[int]:
        """The rows of a target split this run uses: the train fraction, or under `--limit` a
        stratified sample of an evaluation split that is the same for every run and seed."""
        if role == "train":
            return self.train_indices
        ds = self.store.encoded(self.spec.target, self.pipeline, role)
        cap = self.cap(role)
        if not cap:
            return list(range(len(ds)))
        return stratified_sample(ds["labels"], cap, EVAL_SAMPLE_SEED, self.stratify(self.card))

    def full(self, role: str):
        """The target's whole encoded split."""
        return self.store.encoded(self.spec.target, self.pipeline, role)

    def split(self, role: str):
        """The encoded target split: train is the seeded fraction; `--limit` samples every split."""
        ds = self.full(role)
        return ds.select(self.rows(role)) if role == "train" or self.cap(role) else ds

    @staticmethod
    def stratify(card: TaskCard) -> bool:
        return card.has_classes

    def task_card(self, name: str) -> TaskCard:
        card = self.store.registry.get(name)
        self.pipeline.check(card)
        return card

    def capped(self, card: TaskCard) -> dict[str, Any]:
        """Another task's splits (a source, a task-set task) under `max_train_samples` (or the
        task's own cap), `max_eval_samples` and `--limit`: seeded, stratified samples (training
        rows by the source seed)."""
        out = {}
        for role in ROLES:
            ds = self.store.encoded(card.name, self.pipeline, role)
            cap = self.cap(role, card.name)
            if cap and cap < len(ds):
                seed = self.spec.source_seed if role == "train" else EVAL_SAMPLE_SEED
                ds = ds.select(stratified_sample(ds["labels"], cap, seed, self.stratify(card)))
            out[role] = ds
        return out

    def task_train_rows(self, name: str) -> list[int] | None:
        """The training rows a task-set task contributes to the multi-task phase: a target of
        the suite (`fraction_tasks`) gives the rows a single-task run on it at this fraction and
        seed trains on, so no method sees more of a target than another; others their capped
        sample (None: the whole split)."""
        if name in self.spec.fraction_tasks:
            return self.run_rows(name)
        ds = self.store.encoded(name, self.pipeline, "train")
        cap = self.cap("train", name)
        if cap and cap < len(ds):
            card = self.task_card(name)
            return stratified_sample(ds["labels"], cap, self.spec.source_seed, self.stratify(card))
        return None

    def task_splits(self, name: str) -> TaskSplits:
        """A source's or task-set task's splits for training (`capped`; a target of the suite
        in the task set: `task_train_rows`)."""
        card = self.task_card(name)
        if not len(self.store.encoded(name, self.pipeline, "train")):
            raise DataError(f"task '{name}' has no training rows")
        enc = self.capped(card)
        if name in self.spec.fraction_tasks:
            rows = self.run_rows(name)
            if not rows:
                raise DataError(
                    f"task '{name}': fraction {self.spec.fraction} leaves no training rows"
                )
            enc["train"] = self.store.encoded(name, self.pipeline, "train").select(rows)
        return TaskSplits(
            card,
            enc["train"],
            enc["validation"],
            enc["test"],
            self.pipeline.collate,
            row_lengths(enc["train"]),
        )
