"""`finetune`: the encoder starts from the source (or the base init) and is trained on the target.

Options: freeze the first n layers; or, as in Yosinski et al. 2014, copy only the first n
layers and re-initialise the rest (`copy_first_n`), with the copied layers frozen (AnB,
`finetune_copied: false`) or fine-tuned (AnB+), for one n or for every n (`copy_layers: all`:
variants `name@1` .. `name@n`, the curves of Yosinski's Figure 2); layer-wise learning-rate
decay (`layer_lr_decay` = d < 1, as in ELECTRA and BEiT): the head gets the base rate (times `head_lr_multiplier`), the
top block lr·d, and each layer group below one more factor of d, down to the stem at lr·dⁿ for
n layer groups. Encoder parameters outside the layer groups (final norms, poolers) sit above
the top block and get the base rate. Layers are the encoder's `layer_groups()`: the stem
(embeddings) first, then each block.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.method_api import (
    ConfigError,
    EncoderWithHead,
    Method,
    MethodConfig,
    MethodResult,
    RunContext,
    build_head,
    register_method,
    reinitialize,
)


@dataclass
class FinetuneConfig(MethodConfig):
    freeze_first_n: int = 0  # freeze the first n layer groups (0: train all)
    copy_first_n: int = (
        -1
    )  # Yosinski: keep the first n layers from the source, re-init the rest (-1: keep all)
    finetune_copied: bool = True  # AnB+ (True) or AnB (False: copied layers frozen)
    copy_layers: str = ""  # "all": one run per n = 1..layer groups (variants `name@n`)
    layer_lr_decay: float = 1.0  # 1.0: one learning rate for all layers
    head_lr_multiplier: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.freeze_first_n < 0:
            raise ValueError(
                f"freeze_first_n must be >= 0 (0: train all), got {self.freeze_first_n}"
            )
        if self.copy_first_n < -1:
            raise ValueError(
                f"copy_first_n must be >= 0, or -1 to keep all, got {self.copy_first_n}"
            )
        if self.copy_layers not in ("", "all"):
            raise ValueError(f"copy_layers must be 'all' (one run per n), got {self.copy_layers!r}")
        if self.copy_layers and self.copy_first_n != -1:
            raise ValueError("give either copy_first_n (one n) or copy_layers: all, not both")
        if not 0 < self.layer_lr_decay <= 1:
            raise ValueError(f"layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if not self.head_lr_multiplier > 0:
            raise ValueError(f"head_lr_multiplier must be > 0, got {self.head_lr_multiplier}")


@register_method
class Finetune(Method):
    name = "finetune"
    Config = FinetuneConfig
    description = (
        "encoder from the source, all or some layers trained (freeze / Yosinski copy-n / LLRD)"
    )
    test_settings = {"sources": ["synth_text_anchor"], "fraction": 0.2}
    layer_settings = ("copy_first_n", "copy_layers")

    def run(self, ctx: RunContext) -> MethodResult:
        cfg = self.config
        encoder = ctx.start_encoder()
        groups = encoder.layer_groups()
        n = len(groups)
        for field, value in (
            ("freeze_first_n", cfg.freeze_first_n),
            ("copy_first_n", cfg.copy_first_n),
        ):
            if value > n:
                raise ConfigError(
                    f"method finetune: {field}={value} but backbone '{ctx.backbone.name}' has {n} layer groups"
                )
        frozen = cfg.freeze_first_n
        if cfg.copy_first_n >= 0:
            for group in groups[cfg.copy_first_n :]:
                reinitialize(group, encoder.model)
            if not cfg.finetune_copied:
                frozen = max(frozen, cfg.copy_first_n)
        for group in groups[:frozen]:
            for p in group.parameters():
                p.requires_grad_(False)
        head = build_head(ctx.card, encoder.feature_dim, cfg.head_hidden, cfg.head_dropout)
        model = EncoderWithHead(encoder, head)
        lr = ctx.budget.learning_rate
        param_groups = []
        grouped = set()
        for depth, group in enumerate(groups):  # depth n-1 is the top block: lr·d¹
            params = [p for p in group.parameters() if p.requires_grad]
            grouped.update(id(p) for p in group.parameters())
            if params:
                param_groups.append(
                    {"params": params, "lr": lr * cfg.layer_lr_decay ** (n - depth)}
                )
        rest = [
            p for p in encoder.parameters() if id(p) not in grouped and p.requires_grad
        ]  # e.g. final norms
        if rest:
            param_groups.append({"params": rest, "lr": lr})
        param_groups.append({"params": list(head.parameters()), "lr": lr * cfg.head_lr_multiplier})
        trainable = sum(p.numel() for g in param_groups for p in g["params"])
        result = ctx.train(model, param_groups=param_groups)
        return MethodResult(
            result, {"frozen_layers": frozen, "layer_groups": n, "trainable_params": trainable}
        )
