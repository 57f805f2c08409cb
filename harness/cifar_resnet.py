"""The CIFAR ResNets of He et al. 2016, section 4.2 (ResNet-20/32/44/56), written here, and a
loader for the checkpoints in `models/resnet_cifar10` (Idelbayev's training, BSD-2-Clause).

A 3×3 convolution with 16 filters, then three stages of n basic blocks each (16, 32, 64
channels; the first block of stages 2 and 3 halves the feature map with stride 2), global
average pooling: 6n + 2 layers with the classifier. Shortcuts are identities; where the shape
changes they subsample by 2 and pad the new channels with zeros ("option A", no parameters).

As an encoder it maps `pixel_values` (B, 3, H, W) to the pooled 64 features, and its layer
groups are the stem and then each basic block in order, so Yosinski-style `copy_first_n`
counts blocks.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import ConfigError

DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9}  # depth -> blocks per stage (depth = 6n + 2)
# what the checkpoints were trained with (torchvision's ImageNet statistics)
CIFAR_MEAN = (0.485, 0.456, 0.406)
CIFAR_STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - in_planes  # zero channels the shortcut adds (option A)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.pad // 2
        return F.pad(x, (0, 0, 0, 0, half, self.pad - half))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Stem(nn.Module):
    def __init__(self, channels: int = 3, planes: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, planes, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn1(self.conv1(x)))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32×32 images, without its classifier: pooled features out."""

    def __init__(self, depth: int = 20, channels: int = 3):
        super().__init__()
        if depth not in DEPTHS:
            raise ConfigError(f"CIFAR ResNet depth must be one of {sorted(DEPTHS)}, got {depth}")
        n = DEPTHS[depth]
        self.depth = depth
        self.stem = Stem(channels, 16)
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.blocks = nn.ModuleList(blocks)
        self.feature_dim = in_planes
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """He init for convolutions, as the checkpoints' training code; BatchNorm to identity
        (`reinitialize` uses this for Yosinski-style `copy_first_n`)."""
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()
            module.reset_running_stats()

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.stem(pixel_values)
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=(2, 3))

    def layer_groups(self) -> list[nn.Module]:
        return [self.stem, *self.blocks]


def _stage_block_index(depth: int) -> dict[tuple[int, int], int]:
    n = DEPTHS[depth]
    return {(stage, i): (stage - 1) * n + i for stage in (1, 2, 3) for i in range(n)}


def checkpoint_state(
    path: str | Path, depth: int
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Read a checkpoint (`{'state_dict': {'module.conv1.weight', 'module.layer1.0...',
    'module.linear...'}}`) as (encoder state for `CifarResNet(depth)`, classifier state for an
    `nn.Linear(64, 10)`). The file is an old-style pickle: load it only from a trusted folder."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: name it
        raise ConfigError(
            f"cannot read CIFAR ResNet checkpoint {path}: {type(exc).__name__}: {exc}"
        ) from exc
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a checkpoint (expected a dict with 'state_dict')")
    index = _stage_block_index(depth)
    encoder, classifier = {}, {}
    for key, value in state.items():
        parts = key.removeprefix("module.").split(".")
        if parts[0] in ("conv1", "bn1"):
            encoder[".".join(["stem", *parts])] = value
        elif parts[0].startswith("layer") and len(parts) > 2:
            block = index.get((int(parts[0][5:]), int(parts[1])))
            if block is None:
                raise ConfigError(f"{path}: block {key} does not exist in ResNet-{depth}")
            encoder[".".join(["blocks", str(block), *parts[2:]])] = value
        elif parts[0] in ("linear", "fc"):
            classifier[parts[-1]] = value
        else:
            raise ConfigError(f"{path}: unexpected entry '{key}' for a CIFAR ResNet")
    return encoder, classifier


def load_checkpoint(model: CifarResNet, path: str | Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint's encoder weights into `model` (every weight must match); returns the
    checkpoint's classifier state (`weight`, `bias`)."""
    encoder, classifier = checkpoint_state(path, model.depth)
    try:
        model.load_state_dict(encoder, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:200]
        raise ConfigError(f"{path} does not fit ResNet-{model.depth}: {first}") from exc
    return classifier
