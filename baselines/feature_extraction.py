"""`feature_extraction`: a frozen encoder (base or source-trained); its features for each split
are computed once and cached on disk, and a linear or small MLP head is trained on them.

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
    test_settings = {"sources": ["synth_text_anchor"], "fraction": 0.2}

    def run(self, ctx: RunContext) -> MethodResult:
        encoder = ctx.start_encoder()
        sets = {role: ctx.features(encoder, role) for role in ("train", "validation", "test")}
        # one row per feature vector: a multiple-choice row holds one per choice
        x_train = sets["train"][0].flatten(0, -2)
        dim = x_train.shape[-1]
        mean, std = torch.zeros(dim), torch.ones(dim)
        if self.config.standardize and len(x_train) > 1:
            mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
        elif self.config.standardize:
            mean = x_train.mean(0)
        head = build_head(
            ctx.card, encoder.feature_dim, self.config.head_hidden, self.config.head_dropout
        )
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
        return MethodResult(result, {"feature_dim": int(dim)})
