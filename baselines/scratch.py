"""`scratch`: random initialisation, trained on the target only (the floor every method must beat)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.method_api import (
    EncoderWithHead,
    Method,
    MethodConfig,
    MethodResult,
    RunContext,
    build_head,
    register_method,
)


@dataclass
class ScratchConfig(MethodConfig):
    pass


@register_method
class Scratch(Method):
    name = "scratch"
    Config = ScratchConfig
    uses_sources = False
    description = "random init, all layers trained on the target only"
    test_settings = {"fraction": 1.0}

    def run(self, ctx: RunContext) -> MethodResult:
        encoder = ctx.random_encoder()
        head = build_head(
            ctx.card, encoder.feature_dim, self.config.head_hidden, self.config.head_dropout
        )
        return MethodResult(ctx.train(EncoderWithHead(encoder, head)))
