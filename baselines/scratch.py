"""`scratch`: random initialisation, trained on the target only (the floor every method must beat)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.context import RunContext
from harness.heads import EncoderWithHead, build_head
from harness.methods import Method, MethodConfig, MethodResult, register_method


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
        from harness.backbones import BackboneSpec, build_model

        spec = BackboneSpec(**{**ctx.spec.backbone, "init": "random"})
        encoder = build_model(spec, ctx.pipeline.vocab_size, seed=ctx.seed)
        head = build_head(
            ctx.card, encoder.feature_dim, self.config.head_hidden, self.config.head_dropout
        )
        return MethodResult(ctx.train(EncoderWithHead(encoder, head)))
