"""`feature_extraction`: a frozen encoder (base or source-trained); its features for each split
are computed once and cached on disk, and a linear or small MLP head is trained on them.

The probe reads the encoder's output, or any layer (`layer: k`, counted as `copy_first_n`
counts layers); `layers: all` makes one run per layer (variants `name@1` .. `name@n`), all
read from one forward pass per split.

Heads on fixed features like a larger step: the method's own budget default is a learning
rate of 1e-2, which a suite's `budget`, the variant's `budget:` and `--learning_rate` override
(in that order)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from harness.method_api import (
    Budget,
    Method,
    MethodConfig,
    MethodResult,
    RunContext,
    build_head,
    register_method,
    train_model,
)


@dataclass
class FeatureExtractionConfig(MethodConfig):
    standardize: bool = True  # z-score features with training-split statistics
    # the layer probed, counted as `copy_first_n` counts layers (1: the stem, n: the last
    # block); 0: the encoder's output (its last layer)
    layer: int = 0
    layers: str = ""  # "all": one run per layer (the suite expands it into variants `name@k`)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layer < 0:
            raise ValueError(f"layer must be >= 1 (0: the encoder's output), got {self.layer}")
        if self.layers not in ("", "all"):
            raise ValueError(f"layers must be 'all' (one run per layer), got {self.layers!r}")
        if self.layers and self.layer:
            raise ValueError("give either layer (one layer) or layers: all, not both")


class FeatureSet(Dataset):
    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[i], "labels": self.labels[i]}


# a batch of feature rows: each column stacked (torch's default collate does just that)
collate_features = default_collate


class HeadOnFeatures(nn.Module):
    def __init__(self, head: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.head = head
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head((features - self.mean) / self.std)


@register_method
class FeatureExtraction(Method):
    name = "feature_extraction"
    Config = FeatureExtractionConfig
    description = "frozen encoder, cached features, linear/MLP head"
    budget_defaults = {"learning_rate": 1e-2}
    layer_settings = ("layer", "layers")
    test_settings = {"sources": ["synth_text_anchor"], "fraction": 0.2}

    def run(self, ctx: RunContext) -> MethodResult:
        encoder = ctx.start_encoder()
        layer = self.config.layer
        sets = {
            role: ctx.features(encoder, role, layer) for role in ("train", "validation", "test")
        }
        # one row per feature vector: a multiple-choice row holds one per choice
        x_train = sets["train"][0].flatten(0, -2)
        dim = x_train.shape[-1]
        mean, std = torch.zeros(dim), torch.ones(dim)
        if self.config.standardize and len(x_train) > 1:
            mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
        elif self.config.standardize:
            mean = x_train.mean(0)
        head = build_head(ctx.card, dim, self.config.head_hidden, self.config.head_dropout)
        model = HeadOnFeatures(head, mean, std)
        budget = Budget(
            **{**ctx.budget.__dict__, "group_by_length": False}
        )  # features have no length
        data = {role: FeatureSet(*sets[role]) for role in sets}
        result = train_model(
            model,
            ctx.card,
            data["train"],
            data["validation"],
            data["test"],
            collate_features,
            budget,
            ctx.accelerator,
            ctx.seed,
            desc=ctx.spec.variant,
        )
        groups = len(encoder.layer_groups())
        extra = {"feature_dim": int(dim), "layer": layer or groups, "layer_groups": groups}
        return MethodResult(result, extra)
