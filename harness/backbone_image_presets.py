"""The image backbones registered with the harness: presets built from a `transformers` config
(ResNet, ViT, ConvNeXt; random init) and the CIFAR ResNet-20/32/44/56 with their CIFAR-10
weights from the data folder. Importing `harness.backbones` registers them."""

from __future__ import annotations

from harness.backbone_registry import BACKBONES, module_backbone, register_preset


@register_preset(
    "resnet-tiny",
    "image",
    "ResNet, basic blocks, 3 stages (16/32/64 ch), random init",
    image_size=32,
    tags=("resnet",),
)
def _resnet_tiny():
    from transformers import ResNetConfig

    return ResNetConfig(
        num_channels=3,
        embedding_size=16,
        hidden_sizes=[16, 32, 64],
        depths=[1, 1, 1],
        layer_type="basic",
        downsample_in_first_stage=False,
    )


@register_preset(
    "resnet-small",
    "image",
    "ResNet, basic blocks, 4 stages (32-256 ch, 2 blocks each), random init",
    image_size=32,
    tags=("resnet",),
)
def _resnet_small():
    from transformers import ResNetConfig

    return ResNetConfig(
        num_channels=3,
        embedding_size=32,
        hidden_sizes=[32, 64, 128, 256],
        depths=[2, 2, 2, 2],
        layer_type="basic",
        downsample_in_first_stage=False,
    )


@register_preset(
    "vit-tiny",
    "image",
    "ViT, patch 4, H64, 2 layers, 2 heads, random init",
    image_size=32,
    tags=("vit",),
)
def _vit_tiny():
    from transformers import ViTConfig

    return ViTConfig(
        image_size=32,
        patch_size=4,
        num_channels=3,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
    )


@register_preset(
    "convnext-tiny",
    "image",
    "ConvNeXt, 3 stages (32/64/128 ch, depth 1), patch 2, random init",
    image_size=32,
    tags=("convnext",),
)
def _convnext_tiny():
    from transformers import ConvNextConfig

    return ConvNextConfig(
        num_channels=3, patch_size=2, hidden_sizes=[32, 64, 128], depths=[1, 1, 1], num_stages=3
    )


def _cifar_resnet(depth: int, weights: str, accuracy: float) -> None:
    from harness import cifar_resnet as cr

    name = f"resnet{depth}-cifar10"
    entry = module_backbone(
        name,
        "image",
        lambda: cr.CifarResNet(depth),
        f"CIFAR ResNet-{depth} (He et al. 2016 §4.2), trained on CIFAR-10 ({accuracy} % test)",
        image_size=32,
        tags=("resnet", "cifar", "pretrained"),
        weights=f"models/resnet_cifar10/{weights}",
        load=cr.load_checkpoint,
        mean=cr.CIFAR_MEAN,
        std=cr.CIFAR_STD,
    )
    BACKBONES.register(name, entry)


for _depth, _file, _acc in (
    (20, "resnet20-12fca82f.th", 91.8),
    (32, "resnet32-d509ac18.th", 92.8),
    (44, "resnet44-014dd654.th", 93.1),
    (56, "resnet56-4bfd9763.th", 93.6),
):
    _cifar_resnet(_depth, _file, _acc)
