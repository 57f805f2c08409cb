"""The backbone registry and its entries: presets built from a `transformers` config, and torch
modules with the encoder interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from harness.errors import ConfigError
from harness.registry import Registry


@dataclass(frozen=True)
class Preset:
    """A backbone built from a config, with no weights to download."""

    name: str
    modality: str
    make_config: Callable[[], Any]
    description: str
    image_size: int = 32
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModuleBackbone:
    """Any torch module with the encoder interface: `build()` returns a module whose forward
    takes the pipeline's inputs (`pixel_values`, or `input_ids` and `attention_mask`) and
    returns pooled features (B, feature_dim) or a feature map (B, C, H, W), and which has
    `feature_dim` and `layer_groups()` (stem first, then blocks in order). `weights` is a file
    under the data folder that `load(module, path)` reads when the suite's `init` is
    `pretrained` (the default); `init: random` keeps the module's own initialisation."""

    name: str
    modality: str
    build: Callable[[], nn.Module]
    description: str
    image_size: int = 32
    tags: tuple[str, ...] = ()
    weights: str | None = None
    load: Callable[[nn.Module, Path], Any] | None = None
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)


BACKBONES: Registry[Preset | ModuleBackbone] = Registry("backbone")


def module_backbone(
    name: str,
    modality: str,
    build: Callable[[], nn.Module],
    description: str,
    *,
    image_size: int = 32,
    tags: tuple[str, ...] = (),
    weights: str | None = None,
    load: Callable[[nn.Module, Path], Any] | None = None,
    mean: tuple[float, ...] = (0.5, 0.5, 0.5),
    std: tuple[float, ...] = (0.5, 0.5, 0.5),
) -> ModuleBackbone:
    """A checked `ModuleBackbone` entry (`harness.backbones.register_backbone` registers it)."""
    if modality not in ("text", "image"):
        raise ConfigError(
            f"backbone '{name}': modality must be 'text' or 'image', got {modality!r}"
        )
    if weights and load is None:
        raise ConfigError(
            f"backbone '{name}': weights '{weights}' need a load(module, path) function"
        )
    return ModuleBackbone(
        name,
        modality,
        build,
        description,
        image_size,
        (modality, *tags),
        weights,
        load,
        tuple(mean),
        tuple(std),
    )


def register_preset(
    name: str, modality: str, description: str, image_size: int = 32, tags: tuple[str, ...] = ()
):
    """Register the decorated config function as a preset."""

    def decorator(fn: Callable[[], Any]) -> Callable[[], Any]:
        BACKBONES.register(
            name, Preset(name, modality, fn, description, image_size, (modality, *tags))
        )
        return fn

    return decorator
