"""What a method gets for one run: the target's data, encoders (base or source-trained, cached),
cached features, the accelerator, the budget and the seed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.backbones import BackboneSpec, Encoder, build_model
from harness.cache import Cache
from harness.cards import TaskCard
from harness.data.loading import TaskData, load_task
from harness.data.subsets import EVAL_SAMPLE_SEED, fraction_indices, stratified_sample
from harness.errors import DataError
from harness.heads import EncoderWithHead, build_head
from harness.preprocess import InputPipeline, encode_split, row_lengths
from harness.spec import Budget, RunSpec
from harness.taskregistry import TaskRegistry
from harness.training import TaskSplits, TrainResult, train_model

logger = logging.getLogger(__name__)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def default_cache_dir() -> Path:
    return Path(os.environ.get("TRANSFERBENCH_CACHE", Path.home() / ".cache" / "transferbench"))


def atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class TaskStore:
    """Loads each task once per process and encodes each split once per input pipeline."""

    def __init__(
        self, registry: TaskRegistry, data_dir: Path | None, cache_dir: Path, accelerator: Any
    ):
        self.registry = registry
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.accelerator = accelerator
        self._data: dict[str, TaskData] = {}
        self._encoded: dict[tuple[str, str, str], Any] = {}

    def data(self, name: str) -> TaskData:
        if name not in self._data:
            with self.accelerator.main_process_first():
                self._data[name] = load_task(self.registry.get(name), self.data_dir)
        return self._data[name]

    def encoded(self, name: str, pipeline: InputPipeline, role: str):
        key = (name, pipeline.identity, role)
        if key not in self._encoded:
            with self.accelerator.main_process_first():
                self._encoded[key] = encode_split(pipeline, self.data(name), role, self.cache_dir)
        return self._encoded[key]


@dataclass
class Caches:
    """Disk caches for source-trained encoders and frozen features; hits and misses are counted."""

    root: Path
    counts: Counter = field(default_factory=Counter)

    def cache(self, accelerator: Any) -> Cache:
        """The get-or-compute cache over the same root and counts."""
        return Cache(self.root, accelerator, self.counts)


def limit_rows(ds, limit: int, stratify: bool) -> list[int]:
    """`--limit` rows of an encoded split: a stratified sample, the same for every run."""
    return stratified_sample(ds["labels"], limit, EVAL_SAMPLE_SEED, stratify)


@dataclass
class RunContext:
    """Everything a method needs for one run spec."""

    spec: RunSpec
    card: TaskCard
    accelerator: Any
    pipeline: InputPipeline
    store: TaskStore
    caches: Caches
    budget: Budget
    source_budget: Budget

    def __post_init__(self) -> None:
        self.backbone = BackboneSpec(**self.spec.backbone)
        self.data = self.store.data(self.spec.target)
        full_train = self.store.encoded(self.spec.target, self.pipeline, "train")
        stratify = self.card.problem == "classification"
        self.train_indices = fraction_indices(
            full_train["labels"], self.spec.fraction, self.spec.seed, stratify
        )
        for cap in (self.spec.max_train_samples, self.spec.limit):  # seeded, stratified samples
            if cap:
                self.train_indices = stratified_sample(full_train["labels"], cap, self.spec.seed, stratify,
                                                       among=self.train_indices)  # fmt: skip
        if not self.train_indices:
            raise DataError(
                f"task '{self.card.name}': fraction {self.spec.fraction} leaves no training rows"
            )

    @property
    def caps(self) -> dict[str, int] | None:
        """The sample caps, for cache keys (None when unset, so older keys stay valid)."""
        caps = {
            "max_train_samples": self.spec.max_train_samples,
            "max_eval_samples": self.spec.max_eval_samples,
        }
        return {k: v for k, v in caps.items() if v} or None

    @property
    def seed(self) -> int:
        return self.spec.seed

    def split(self, role: str):
        """The encoded target split: train is the seeded fraction; `--limit` samples every split."""
        ds = self.store.encoded(self.spec.target, self.pipeline, role)
        return ds.select(self.rows(role)) if role == "train" or self.cap(role) else ds

    def rows(self, role: str) -> list[int]:
        """The rows of a target split this run uses: the train fraction, or under `--limit` a
        stratified sample of an evaluation split that is the same for every run and seed."""
        if role == "train":
            return self.train_indices
        ds = self.store.encoded(self.spec.target, self.pipeline, role)
        cap = self.cap(role)
        if not cap:
            return list(range(len(ds)))
        return limit_rows(ds, cap, self.card.problem == "classification")

    def cap(self, role: str) -> int | None:
        """How many rows of a split a run may use: `--limit`, and `max_train_samples` for train
        (sources and task sets; the target's fraction is capped in `__post_init__`) or
        `max_eval_samples` for validation (model selection, never the scored split)."""
        role_cap = self.spec.max_train_samples if role == "train" else None
        if role == "validation":
            role_cap = self.spec.max_eval_samples
        return min((c for c in (self.spec.limit, role_cap) if c), default=None)

    def lengths(self, ds) -> list[int] | None:
        return row_lengths(ds)

    # -- encoders -------------------------------------------------------------------------
    def base_encoder(self, seed: int | None = None) -> Encoder:
        """The backbone's own initialisation (random for presets, pretrained weights otherwise)."""
        return build_model(
            self.backbone, self.pipeline.vocab_size, seed=self.seed if seed is None else seed
        )

    def encoder_key(self) -> str:
        """Identity of the starting encoder: the source cache key, or base init and seed."""
        if self.spec.sources:
            return self.source_key()
        seeded = self.backbone.is_preset or self.backbone.init == "random"
        return _hash(["base", self.pipeline.identity, self.seed if seeded else None])

    def source_key(self) -> str:
        versions = [self.store.registry.get(s).content_hash for s in self.spec.sources]
        return _hash(["source", self.pipeline.identity, list(self.spec.sources), versions,
                      self.spec.source_budget, self.spec.source_seed, self.spec.limit, self.caps])  # fmt: skip

    def start_encoder(self) -> Encoder:
        """The encoder a method starts from: trained on the sources (cached), or the base init."""
        if not self.spec.sources:
            return self.base_encoder()
        path = self.caches.root / "sources" / self.source_key() / "encoder.pt"
        encoder = self.base_encoder(seed=self.spec.source_seed)
        if path.exists():
            self.caches.counts["source_hit"] += 1
        else:
            self.caches.counts["source_miss"] += 1
            self._train_on_sources(encoder, path)
            self.accelerator.wait_for_everyone()
        encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return encoder

    def _train_on_sources(self, encoder: Encoder, path: Path) -> None:
        history = []
        for name in self.spec.sources:
            card = self.store.registry.get(name)
            self.pipeline.check(card)
            enc = {
                r: self.store.encoded(name, self.pipeline, r)
                for r in ("train", "validation", "test")
            }
            enc = self.capped(card, enc)
            model = EncoderWithHead(encoder, build_head(card, encoder.feature_dim))
            result = train_model(model, card, enc["train"], enc["validation"], enc["test"], self.pipeline.collate,
                                 self.source_budget, self.accelerator, self.spec.source_seed,
                                 lengths=self.lengths(enc["train"]), desc=f"source {name}")  # fmt: skip
            history.append(
                {
                    "task": name,
                    "score": result.primary,
                    "metric": card.primary_metric,
                    "best_epoch": result.best_epoch,
                }
            )
            logger.info("source %s: %s %.4f", name, card.primary_metric, result.primary)
        if self.accelerator.is_main_process:
            atomic_torch_save(encoder.state_dict(), path)
            (path.parent / "meta.json").write_text(json.dumps({"sources": list(self.spec.sources), "history": history,
                                                               "backbone": self.spec.backbone}, indent=2))  # fmt: skip

    def source_history(self) -> list[dict[str, Any]]:
        meta = self.caches.root / "sources" / self.source_key() / "meta.json"
        return (
            json.loads(meta.read_text())["history"] if self.spec.sources and meta.exists() else []
        )

    # -- task sets --------------------------------------------------------------------------
    @property
    def cache(self) -> Cache:
        """Get-or-compute cache for what a method trains once and reuses (task-set models,
        teacher soft targets)."""
        return self.caches.cache(self.accelerator)

    def task_card(self, name: str) -> TaskCard:
        card = self.store.registry.get(name)
        self.pipeline.check(card)
        return card

    def task_splits(self, name: str) -> TaskSplits:
        """A task's full encoded splits for multi-task training (`--limit` samples each, like
        sources); the target's run fraction does not apply here."""
        card = self.task_card(name)
        enc = {
            r: self.store.encoded(name, self.pipeline, r) for r in ("train", "validation", "test")
        }
        if not len(enc["train"]):
            raise DataError(f"task '{name}' of the task set has no training rows")
        enc = self.capped(card, enc)
        return TaskSplits(card, enc["train"], enc["validation"], enc["test"], self.pipeline.collate,
                          row_lengths(enc["train"]))  # fmt: skip

    def for_task(
        self, target: str, seed: int, method: str, method_config: dict[str, Any]
    ) -> RunContext:
        """A context for a single-task run on another task of the set (a teacher): the whole
        training split, the source budget, the given seed and method; same caches."""
        from dataclasses import replace

        spec = replace(self.spec, target=target, fraction=1.0, seed=seed, method=method, variant=method,
                       method_config=method_config, budget=self.spec.source_budget, sources=(), task_set=())  # fmt: skip
        return RunContext(spec=spec, card=self.task_card(target), accelerator=self.accelerator, pipeline=self.pipeline,
                          store=self.store, caches=self.caches, budget=self.source_budget,
                          source_budget=self.source_budget)  # fmt: skip

    def capped(self, card: TaskCard, splits: dict[str, Any]) -> dict[str, Any]:
        """A source's or task-set task's splits under `max_train_samples`, `max_eval_samples`
        and `--limit`: seeded, stratified samples (by the source seed for training rows)."""
        stratify = card.problem == "classification"
        out = {}
        for role, ds in splits.items():
            cap = self.cap(role)
            if cap and cap < len(ds):
                seed = self.spec.source_seed if role == "train" else EVAL_SAMPLE_SEED
                ds = ds.select(stratified_sample(ds["labels"], cap, seed, stratify))
            out[role] = ds
        return out

    def task_set_key(self, recipe: dict[str, Any]) -> list[Any]:
        """What a model trained on the spec's task set depends on: the set, its task versions,
        the input pipeline and backbone, the recipe (method and its settings), the source
        budget and seed, and `--limit`."""
        names = sorted(self.spec.task_set)
        versions = [self.store.registry.get(n).content_hash for n in names]
        return ["task_set", names, versions, self.pipeline.identity, self.spec.backbone, recipe,
                self.spec.source_budget, self.spec.source_seed, self.spec.limit, self.caps]  # fmt: skip

    # -- features ---------------------------------------------------------------------------
    def features(self, encoder: Encoder, role: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen-encoder features of a target split, computed once and cached on disk (keyed by
        encoder, task, split, pipeline and rows), then subset like `split(role)`. Full splits are
        cached so every fraction and seed reuses them; under `--limit` only the rows used are."""
        full = self.store.encoded(self.spec.target, self.pipeline, role)
        rows = self.rows(role)
        subset = bool(self.spec.limit)
        key = _hash(["features", self.encoder_key(), self.card.content_hash, role, self.data.fingerprints.get(role),
                     self.pipeline.identity, len(full), rows if subset else None])  # fmt: skip
        path = self.caches.root / "features" / f"{self.card.name}-{role}-{key}.pt"
        with self.accelerator.main_process_first():
            if path.exists():
                self.caches.counts["feature_hit"] += 1
                feats, labels = torch.load(path, map_location="cpu", weights_only=True).values()
            else:
                self.caches.counts["feature_miss"] += 1
                feats, labels = self._compute_features(
                    encoder, full.select(rows) if subset else full
                )
                if self.accelerator.is_main_process:
                    atomic_torch_save({"features": feats, "labels": labels}, path)
        if subset:
            return feats, labels
        idx = torch.tensor(rows)
        return feats[idx], labels[idx]

    @torch.no_grad()
    def _compute_features(self, encoder: Encoder, ds) -> tuple[torch.Tensor, torch.Tensor]:
        """Features in row order; text rows are batched by length so little padding is computed."""
        from torch.utils.data import DataLoader

        device = self.accelerator.device
        encoder = encoder.to(device).eval()
        lengths = row_lengths(ds)
        order = sorted(range(len(ds)), key=lengths.__getitem__) if lengths else list(range(len(ds)))
        loader = DataLoader(
            ds,
            batch_size=self.budget.per_device_eval_batch_size,
            sampler=order,
            collate_fn=self.pipeline.collate,
        )
        feats, labels = [], []
        for batch in loader:
            labels.append(batch.pop("labels"))
            with self.accelerator.autocast():
                feats.append(encoder(**{k: v.to(device) for k, v in batch.items()}).float().cpu())
        where = torch.tensor(order)
        out_f, out_l = torch.cat(feats), torch.cat(labels)
        feats_sorted, labels_sorted = torch.empty_like(out_f), torch.empty_like(out_l)
        feats_sorted[where], labels_sorted[where] = out_f, out_l
        return feats_sorted, labels_sorted

    # -- training -------------------------------------------------------------------------
    def train(
        self,
        model: torch.nn.Module,
        param_groups: list[dict[str, Any]] | None = None,
        desc: str | None = None,
        **hooks: Any,
    ) -> TrainResult:
        """Train a model on the target (encoded splits) with the run's budget and seed; `hooks`
        go to the training loop (`loss`, `optimizer`, `step_hooks`)."""
        train = self.split("train")
        self.last_model = model  # the trained model, for methods that reuse it (teachers)
        return train_model(model, self.card, train, self.split("validation"), self.split("test"), self.pipeline.collate,
                           self.budget, self.accelerator, self.seed, param_groups=param_groups,
                           lengths=self.lengths(train), desc=desc or self.spec.variant, **hooks)  # fmt: skip
