"""The encoder side of a run: the backbone's base init, encoders trained on sources (trained
once per recipe, cached), and frozen-encoder features of the target's splits (cached)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from harness.backbones import BackboneSpec, Encoder, build_model
from harness.cache import Cache, cache_key
from harness.errors import ConfigError
from harness.heads import EncoderWithHead, build_head
from harness.hostmemory import onednn_enabled, onednn_pays
from harness.layers import layer_features
from harness.preprocess import row_lengths
from harness.spec import Budget
from harness.splits import RunSplits
from harness.training import TRAINING_VERSION, train_tasks

logger = logging.getLogger(__name__)


class Encoders:
    """Encoders and features for one run spec."""

    def __init__(
        self, splits: RunSplits, cache: Cache, source_budget: Budget, eval_batch_size: int
    ):
        self.splits = splits
        self.spec = splits.spec
        self.pipeline = splits.pipeline
        self.cache = cache
        self.source_budget = source_budget
        self.eval_batch_size = eval_batch_size
        self.backbone = BackboneSpec(**self.spec.backbone)
        self._source: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None

    def base(self, seed: int | None = None) -> Encoder:
        """The backbone's own initialisation (random for presets, pretrained weights otherwise)."""
        return build_model(
            self.backbone, self.pipeline.vocab_size, seed=self.spec.seed if seed is None else seed
        )

    def key(self) -> str:
        """Identity of the starting encoder: the source entry, or base init and seed."""
        if self.spec.sources:
            return cache_key(self.source_parts())
        seeded = not self.backbone.loads_weights
        return cache_key(["base", self.pipeline.identity, self.spec.seed if seeded else None])

    def source_parts(self) -> list[Any]:
        """What a source-trained encoder depends on: the pipeline, the sources in order and their
        versions, the source budget and seed, `--limit` and the sample caps."""
        versions = [self.splits.store.registry.get(s).content_hash for s in self.spec.sources]
        data = [self.splits.store.data(s).fingerprints for s in self.spec.sources]  # the rows read
        return [
            "source-v2",
            TRAINING_VERSION,
            data,
            self.pipeline.identity,
            list(self.spec.sources),
            versions,
            self.spec.source_budget,
            self.spec.source_seed,
            self.spec.limit,
            self.splits.caps,
        ]

    def source(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The encoder weights after training on the spec's sources in order, and the history
        (score per source); trained on the first request, then loaded from the cache."""

        def compute(folder: Path | None) -> None:
            encoder = self.base(seed=self.spec.source_seed)
            heads = {}
            history = [self._train_on(encoder, name, heads) for name in self.spec.sources]
            if folder is not None:
                torch.save(encoder.state_dict(), folder / "encoder.pt")
                last = self.spec.sources[-1]  # the source model's head, for LEEP / NCE
                torch.save(heads[last].state_dict(), folder / "head.pt")
                meta = {
                    "sources": list(self.spec.sources),
                    "history": history,
                    "backbone": self.spec.backbone,
                }
                (folder / "meta.json").write_text(json.dumps(meta, indent=2))

        def load(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
            state = torch.load(folder / "encoder.pt", map_location="cpu", weights_only=True)
            return state, json.loads((folder / "meta.json").read_text())

        if self._source is None:
            name = "+".join(self.spec.sources)[:80]
            self._source = self.cache.get_or_compute(
                "sources", self.source_parts(), compute, load, name=name
            )
        return self._source

    def _train_on(self, encoder: Encoder, name: str, heads: dict[str, Any]) -> dict[str, Any]:
        task = self.splits.task_splits(name)
        heads[name] = build_head(task.card, encoder.feature_dim)
        model = EncoderWithHead(encoder, heads[name])
        res = train_tasks(
            model,
            [task],
            self.source_budget,
            self.cache.accelerator,
            self.spec.source_seed,
            desc=f"source {name}",
        ).tasks[name]
        logger.info("source %s: %s %.4f", name, task.card.primary_metric, res.primary)
        return {
            "task": name,
            "score": res.primary,
            "metric": task.card.primary_metric,
            "best_epoch": res.best_epoch,
        }

    def source_head(self, feature_dim: int) -> torch.nn.Module:
        """The last source's trained head (its card's head on the source-trained encoder)."""
        card = self.splits.store.registry.get(self.spec.sources[-1])
        head = build_head(card, feature_dim)
        folder = self.cache.folder("sources", self.source_parts(), "+".join(self.spec.sources)[:80])
        self.source()
        head.load_state_dict(torch.load(folder / "head.pt", map_location="cpu", weights_only=True))
        return head

    def start(self) -> Encoder:
        """The encoder a method starts from: trained on the sources (cached), or the base init."""
        if not self.spec.sources:
            return self.base()
        encoder = self.base(seed=self.spec.source_seed)
        encoder.load_state_dict(self.source()[0])
        return encoder

    def history(self) -> list[dict[str, Any]]:
        """Per-source scores of the source training (empty without sources)."""
        return self.source()[1]["history"] if self.spec.sources else []

    # -- features ---------------------------------------------------------------------------
    def features(self, encoder: Encoder, role: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen-encoder features of a target split, computed once and cached (keyed by encoder,
        task, split, pipeline and rows), then subset like `splits.split(role)`. Full splits are
        cached so every fraction and seed reuses them; under `--limit` or a sample cap
        (`max_train_samples`, ...) only the rows used are, so a capped split of a large task is
        not encoded whole."""
        parts, encoded, pick = self._feature_entry(role)

        def compute(folder: Path | None) -> None:
            feats, labels = self._compute(encoder, encoded)
            if folder is not None:
                torch.save({"features": feats, "labels": labels}, folder / "features.pt")

        def load(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
            saved = torch.load(folder / "features.pt", map_location="cpu", weights_only=True)
            return saved["features"], saved["labels"]

        name = f"{self.splits.card.name}-{role}"
        return pick(
            *self.cache.get_or_compute("features", ["features", *parts], compute, load, name)
        )

    def layer_features(
        self, encoder: Encoder, role: str, layer: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The features of layer `layer` (1..n, `harness.layers`) of a target split, subset like
        `features`. The first request for a split encodes it once and caches every layer's
        features (one file per layer), so reading all n layers is one forward pass per split."""
        n = len(encoder.layer_groups())
        if not 1 <= layer <= n:
            raise ConfigError(
                f"layer {layer} is out of range: backbone '{self.backbone.name}' has {n} layer "
                "groups (layer 1 is the stem, n the last block)"
            )
        parts, encoded, pick = self._feature_entry(role)

        def compute(folder: Path | None) -> None:
            layers, labels = self._compute(encoder, encoded, every_layer=True)
            if folder is not None:
                for k, feats in enumerate(layers, start=1):
                    torch.save({"features": feats, "labels": labels}, folder / f"layer{k:03d}.pt")

        def load(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
            saved = torch.load(
                folder / f"layer{layer:03d}.pt", map_location="cpu", weights_only=True
            )
            return saved["features"], saved["labels"]

        name = f"{self.splits.card.name}-{role}-layers"
        entry = self.cache.get_or_compute(
            "layer_features", ["layers", n, *parts], compute, load, name
        )
        return pick(*entry)

    def _feature_entry(self, role: str) -> tuple[list[Any], Any, Any]:
        """What a split's feature entry depends on, the rows it encodes, and how the run's
        rows are picked from what it holds."""
        splits, card = self.splits, self.splits.card
        full, rows = splits.full(role), splits.rows(role)
        cap = splits.cap(role)  # a cap above the split's size caps nothing: cache it whole
        subset = bool(self.spec.limit) or (bool(cap) and cap < len(full) and len(rows) < len(full))
        fingerprint = splits.store.data(card.name).fingerprints.get(role)
        parts = [
            self.key(),
            card.content_hash,
            role,
            fingerprint,
            self.pipeline.identity,
            len(full),
            rows if subset else None,
        ]

        def pick(feats: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if subset:
                return feats, labels
            idx = torch.tensor(rows)
            return feats[idx], labels[idx]

        return parts, full.select(rows) if subset else full, pick

    @torch.no_grad()
    def _compute(self, encoder: Encoder, ds, every_layer: bool = False) -> tuple[Any, torch.Tensor]:
        """Features in row order (with `every_layer`, a list of them, layer 1 to n); text rows
        are batched by length so little padding is computed."""
        acc = self.cache.accelerator
        encoder = encoder.to(acc.device).eval()
        lengths = row_lengths(ds)
        order = sorted(range(len(ds)), key=lengths.__getitem__) if lengths else list(range(len(ds)))
        loader = DataLoader(
            ds, batch_size=self.eval_batch_size, sampler=order, collate_fn=self.pipeline.collate
        )
        feats: list[list[torch.Tensor]] = []
        labels = []
        with onednn_enabled(onednn_pays(encoder, acc)):  # see hostmemory.onednn_pays
            for batch in loader:
                labels.append(batch.pop("labels"))
                inputs = {k: v.to(acc.device) for k, v in batch.items()}
                with acc.autocast():
                    out = layer_features(encoder, **inputs) if every_layer else [encoder(**inputs)]
                feats.append([f.float().cpu() for f in out])
        where = torch.tensor(order)
        out_l = torch.cat(labels)
        labels_sorted = torch.empty_like(out_l)
        labels_sorted[where] = out_l
        layers = []
        for per_layer in zip(*feats):
            out_f = torch.cat(per_layer)
            feats_sorted = torch.empty_like(out_f)
            feats_sorted[where] = out_f
            layers.append(feats_sorted)
        return (layers if every_layer else layers[0]), labels_sorted
