"""L2-SP fine-tuning (Li, Grandvalet and Davoine 2018, "Explicit Inductive Bias for Transfer
Learning with Convolutional Networks", ICML): fine-tune every layer, with a penalty pulling the
encoder's weights towards their values at the start of fine-tuning (the source's) instead of
towards zero, and plain L2 on the new head:

    loss = task loss + alpha/2 * sum_enc ||w - w_source||^2 + beta/2 * sum_head ||w||^2

Weight decay is switched off: the two penalties replace it. A TransferBench method in one file:

    transferbench run --suite quick --include examples/methods/l2sp.py --methods l2sp,finetune
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from harness.method_api import (
    EncoderWithHead,
    Method,
    MethodConfig,
    MethodResult,
    RunContext,
    build_head,
    register_method,
    supervised_loss,
)


@dataclass
class L2SPConfig(MethodConfig):
    alpha: float = 0.01  # pull of the encoder towards its starting (source) weights
    beta: float = 0.01  # plain L2 on the new head

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("alpha", "beta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def l2sp_penalty(
    encoder: torch.nn.Module,
    start: dict[str, torch.Tensor],
    head: torch.nn.Module,
    alpha: float,
    beta: float,
) -> torch.Tensor:
    """alpha/2 * sum ||w - w_start||^2 over the encoder + beta/2 * sum ||w||^2 over the head."""
    pull = sum(
        ((p - start[n]) ** 2).sum() for n, p in encoder.named_parameters() if p.requires_grad
    )
    decay = sum((p**2).sum() for p in head.parameters())
    return 0.5 * alpha * pull + 0.5 * beta * decay


@register_method
class L2SP(Method):
    name = "l2sp"
    Config = L2SPConfig
    description = (
        "fine-tuning with an L2 penalty towards the source weights (L2-SP, Li et al. 2018)"
    )
    test_settings = {"sources": ["synth_text_anchor"], "fraction": 0.2, "margin": 0.15}

    def run(self, ctx: RunContext) -> MethodResult:
        encoder = ctx.start_encoder()
        head = build_head(
            ctx.card, encoder.feature_dim, self.config.head_hidden, self.config.head_dropout
        )
        model = EncoderWithHead(encoder, head)
        start = {n: p.detach().clone() for n, p in encoder.named_parameters()}
        cfg = self.config

        def loss(outputs: torch.Tensor, batch: dict[str, Any], card: Any) -> torch.Tensor:
            device = next(encoder.parameters()).device  # the loop may have moved the model
            if next(iter(start.values())).device != device:
                start.update({n: w.to(device) for n, w in start.items()})
            return supervised_loss(outputs, batch, card) + l2sp_penalty(
                encoder, start, head, cfg.alpha, cfg.beta
            )

        groups = [{"params": list(model.parameters()), "weight_decay": 0.0}]
        result = ctx.train(model, param_groups=groups, loss=loss)
        moved = sum(
            float(((p.detach().cpu() - start[n].cpu()) ** 2).sum())
            for n, p in encoder.named_parameters()
        )
        return MethodResult(result, {"distance_from_source": moved**0.5})
