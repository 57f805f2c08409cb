"""What a method gets for one run: the run's splits (`RunSplits`), its encoders and features
(`Encoders`), the get-or-compute cache, the accelerator, the budget and the seed.

The data and the encoders live in their own modules (`harness.splits`, `harness.encoders`);
`RunContext` joins them and adds training. Its methods below are the API a method uses."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from harness.backbones import Encoder
from harness.cache import Cache
from harness.cards import TaskCard
from harness.data.loading import TaskData
from harness.encoders import Encoders
from harness.preprocess import InputPipeline, row_lengths
from harness.spec import Budget, RunSpec
from harness.splits import RunSplits, TaskStore
from harness.training import TRAINING_VERSION, TaskSplits, TrainResult, train_model


def default_cache_dir() -> Path:
    return Path(os.environ.get("TRANSFERBENCH_CACHE", Path.home() / ".cache" / "transferbench"))


@dataclass
class RunContext:
    """Everything a method needs for one run spec."""

    spec: RunSpec
    card: TaskCard
    pipeline: InputPipeline
    store: TaskStore
    cache: Cache
    budget: Budget
    source_budget: Budget

    def __post_init__(self) -> None:
        self.splits = RunSplits(self.spec, self.card, self.store, self.pipeline)
        self.encoders = Encoders(
            self.splits, self.cache, self.source_budget, self.budget.per_device_eval_batch_size
        )
        self.backbone = self.encoders.backbone

    @property
    def accelerator(self) -> Any:
        return self.cache.accelerator

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def data(self) -> TaskData:
        """The target's raw data."""
        return self.store.data(self.spec.target)

    @property
    def train_indices(self) -> list[int]:
        return self.splits.train_indices

    # -- the method API ---------------------------------------------------------------------
    def split(self, role: str):
        """The encoded target split this run uses (see `RunSplits.split`)."""
        return self.splits.split(role)

    def base_encoder(self, seed: int | None = None) -> Encoder:
        return self.encoders.base(seed)

    def random_encoder(self) -> Encoder:
        """The backbone's architecture, randomly initialised with the run's seed whatever its
        weights (`scratch`)."""
        from harness.backbones import BackboneSpec, build_model

        spec = BackboneSpec(**{**self.spec.backbone, "init": "random"})
        return build_model(spec, self.pipeline.vocab_size, seed=self.seed)

    def start_encoder(self) -> Encoder:
        """The encoder trained on the spec's sources (cached), or the base init without sources."""
        return self.encoders.start()

    def features(
        self, encoder: Encoder, role: str, layer: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached frozen-encoder features of a target split (see `Encoders.features`); with
        `layer` = k ≥ 1, those of layer k, counted as `copy_first_n` counts layers (see
        `Encoders.layer_features`: every layer of a split is cached from one forward pass)."""
        if layer:
            return self.encoders.layer_features(encoder, role, layer)
        return self.encoders.features(encoder, role)

    def task_card(self, name: str) -> TaskCard:
        return self.splits.task_card(name)

    def task_splits(self, name: str) -> TaskSplits:
        """A task-set task's splits for multi-task training (see `RunSplits.task_splits`)."""
        return self.splits.task_splits(name)

    def task_set_key(self, recipe: dict[str, Any]) -> list[Any]:
        """What a model trained on the spec's task set depends on: the set, its task versions,
        the input pipeline and backbone, the recipe (method and its settings), the source
        budget and seed, `--limit` and the sample caps; and where targets of the suite are in
        the set, the fraction and seed that pick their rows."""
        names = sorted(self.spec.task_set)
        versions = [self.store.registry.get(n).content_hash for n in names]
        data = [self.store.data(n).fingerprints for n in names]  # the rows read, not only the cards
        key = [
            "task_set",
            TRAINING_VERSION,
            names,
            versions,
            data,
            self.pipeline.identity,
            self.spec.backbone,
            recipe,
            self.spec.source_budget,
            self.spec.source_seed,
            self.spec.limit,
            self.splits.caps,
        ]
        if self.spec.fraction_tasks:
            key.append(self.rows_key())
        return key

    def task_fingerprints(self, name: str) -> dict[str, str]:
        """The fingerprints of the data a task's splits were read from (files, generator output,
        Hub rows): cache keys carry them, so changed data is never served from the cache."""
        return dict(self.store.data(name).fingerprints)

    def rows_key(self) -> dict[str, Any]:
        """What picks the task-set rows of the suite's targets (`RunSpec.fraction_tasks`)."""
        rows = {t: self.splits.run_rows(t) for t in sorted(self.spec.fraction_tasks)}
        return {
            "fraction_tasks": sorted(self.spec.fraction_tasks),
            "fraction": self.spec.fraction,
            "seed": self.spec.seed,
            # the rows themselves, so a change in how they are picked never serves a phase
            # trained on other rows
            "rows": hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16],
        }

    def for_task(
        self,
        target: str,
        seed: int,
        method: str,
        method_config: dict[str, Any],
        sources: Sequence[str] = (),
    ) -> RunContext:
        """A context for a single-task run on another task of the set (a teacher): the task's
        rows in the multi-task phase (`RunSplits.task_train_rows`), the source budget, the
        given seed, method and sources (trained once, shared with the suite's runs from the
        same sources); same caches."""
        spec = replace(
            self.spec,
            target=target,
            fraction=1.0,
            seed=seed,
            method=method,
            variant=method,
            method_config=method_config,
            budget=self.spec.source_budget,
            sources=tuple(sources),
            task_set=(),
            fraction_tasks=(),
        )
        sub = RunContext(
            spec=spec,
            card=self.task_card(target),
            pipeline=self.pipeline,
            store=self.store,
            cache=self.cache,
            budget=self.source_budget,
            source_budget=self.source_budget,
        )
        rows = self.splits.task_train_rows(target)
        if rows is not None:
            sub.splits.train_indices = rows
        return sub

    def train(
        self,
        model: torch.nn.Module,
        param_groups: list[dict[str, Any]] | None = None,
        desc: str | None = None,
        **hooks: Any,
    ) -> TrainResult:
        """Train a model on the target (encoded splits) with the run's budget and seed; `hooks`
        go to the training loop (`loss`, `optimizer`, `step_hooks`). The result holds the
        trained model (`result.model`), for methods that reuse it (teachers)."""
        train = self.split("train")
        return train_model(
            model,
            self.card,
            train,
            self.split("validation"),
            self.split("test"),
            self.pipeline.collate,
            self.budget,
            self.accelerator,
            self.seed,
            param_groups=param_groups,
            lengths=row_lengths(train),
            desc=desc or self.spec.variant,
            **hooks,
        )
