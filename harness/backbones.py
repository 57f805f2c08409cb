"""Encoders from `transformers` behind one interface: a batch in, pooled features out, and the
layers in order (so methods can freeze or re-initialise the first n).

A backbone is named by a preset (a small config built offline: `bert-tiny`, `resnet-tiny`, ...)
or by any Hub name or local path that `AutoModel` can load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import ConfigError, UnknownNameError
from harness.registry import Registry, did_you_mean

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preset:
    """A backbone built from a config, with no weights to download."""

    name: str
    modality: str
    make_config: Callable[[], Any]
    description: str
    image_size: int = 32
    tags: tuple[str, ...] = ()


BACKBONES: Registry[Preset] = Registry("backbone")


def _preset(
    name: str, modality: str, description: str, image_size: int = 32, tags: tuple[str, ...] = ()
):
    def decorator(fn: Callable[[], Any]) -> Callable[[], Any]:
        BACKBONES.register(
            name, Preset(name, modality, fn, description, image_size, (modality, *tags))
        )
        return fn

    return decorator


def _bert(hidden: int, layers: int, heads: int):
    from transformers import BertConfig

    return BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=4 * hidden, max_position_embeddings=512, vocab_size=30522)  # fmt: skip


@_preset(
    "bert-tiny", "text", "BERT L2/H128/A2 (Turc et al. 2019 sizes), random init", tags=("bert",)
)
def _bert_tiny():
    return _bert(128, 2, 2)


@_preset("bert-mini", "text", "BERT L4/H256/A4, random init", tags=("bert",))
def _bert_mini():
    return _bert(256, 4, 4)


@_preset("bert-small", "text", "BERT L4/H512/A8, random init", tags=("bert",))
def _bert_small():
    return _bert(512, 4, 8)


@_preset(
    "resnet-tiny",
    "image",
    "ResNet, basic blocks, 3 stages (16/32/64 ch), random init",
    image_size=32,
    tags=("resnet",),
)
def _resnet_tiny():
    from transformers import ResNetConfig

    return ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32, 64], depths=[1, 1, 1],
                        layer_type="basic", downsample_in_first_stage=False)  # fmt: skip


@_preset(
    "resnet-small",
    "image",
    "ResNet, basic blocks, 4 stages (32-256 ch, 2 blocks each), random init",
    image_size=32,
    tags=("resnet",),
)
def _resnet_small():
    from transformers import ResNetConfig

    return ResNetConfig(num_channels=3, embedding_size=32, hidden_sizes=[32, 64, 128, 256], depths=[2, 2, 2, 2],
                        layer_type="basic", downsample_in_first_stage=False)  # fmt: skip


@_preset(
    "vit-tiny",
    "image",
    "ViT, patch 4, H64, 2 layers, 2 heads, random init",
    image_size=32,
    tags=("vit",),
)
def _vit_tiny():
    from transformers import ViTConfig

    return ViTConfig(image_size=32, patch_size=4, num_channels=3, hidden_size=64, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=128)  # fmt: skip


@_preset(
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


@dataclass(frozen=True)
class BackboneSpec:
    """What a suite names: which encoder and how inputs are prepared for it."""

    name: str
    init: str = "pretrained"  # pretrained | random (presets are always random)
    max_length: int = 128
    image_size: int | None = None
    pooling: str = "mean"  # mean | cls
    vocab_size: int = 2000  # WordPiece size for presets trained on task texts
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a preset, Hub name or path, got {self.name!r}")
        if self.init not in ("pretrained", "random"):
            raise ValueError(f"init must be 'pretrained' or 'random', got {self.init!r}")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        for name in ("max_length", "vocab_size", "image_size"):
            value = getattr(self, name)
            if value is not None and value < 8:
                raise ValueError(f"{name} must be a whole number >= 8, got {value}")

    @property
    def is_preset(self) -> bool:
        return self.name in BACKBONES

    @property
    def location(self) -> str:
        """Where the weights are: a local path, else a path under the data folder
        (`$TRANSFERBENCH_DATA_DIR`, which `--data_dir` sets; e.g. `models/all-MiniLM-L6-v2`),
        else the name itself for the Hub."""
        if Path(self.name).exists():
            return self.name
        for data in os.environ.get("TRANSFERBENCH_DATA_DIR", "").split(os.pathsep):
            if data.strip() and (Path(data).expanduser() / self.name).exists():
                return str(Path(data).expanduser() / self.name)
        return self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_modality(spec: BackboneSpec) -> str:
    """The modality of a preset or Hub/local model (reads its config, no weights)."""
    if spec.is_preset:
        return BACKBONES.get(spec.name).modality
    config = _auto_config(spec.location)
    return "image" if hasattr(config, "num_channels") else "text"


def _auto_config(name: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        hint = did_you_mean(name, BACKBONES.names())
        raise UnknownNameError(
            f"unknown backbone '{name}': not a preset and not loadable as a Hub name or local path "
            f"({str(exc).splitlines()[0][:160]}).{hint} Presets: {', '.join(BACKBONES.names())}"
        ) from exc


def describe_preset(name: str) -> dict[str, Any]:
    p = BACKBONES.get(name)
    return {"name": p.name, "modality": p.modality, "description": p.description}


class Encoder(nn.Module):
    """A `transformers` model that maps a batch to pooled features of size `feature_dim`."""

    def __init__(self, model: nn.Module, modality: str, feature_dim: int, pooling: str = "mean"):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ConfigError(f"backbone pooling must be 'mean' or 'cls', got {pooling!r}")
        self.model = model
        self.modality = modality
        self.feature_dim = feature_dim
        self.pooling = pooling

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        out = self.model(**inputs)
        hidden = out.last_hidden_state
        if hidden.dim() == 4:  # CNN feature map (B, C, H, W)
            pooled = getattr(out, "pooler_output", None)
            return pooled.flatten(1) if pooled is not None else hidden.mean(dim=(2, 3))
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = inputs.get("attention_mask")
        if mask is None:
            return hidden.mean(dim=1)
        mask = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def layer_groups(self) -> list[nn.Module]:
        """The encoder's layers in input-to-output order: the stem (embeddings), then each block."""
        m = self.model
        stem = next((getattr(m, a) for a in ("embeddings", "embedder") if hasattr(m, a)), None)
        blocks = None
        for body in (getattr(m, "encoder", None), getattr(m, "transformer", None), m):
            for attr in ("layer", "stages", "layers", "blocks"):
                if body is not None and isinstance(getattr(body, attr, None), nn.ModuleList):
                    blocks = getattr(body, attr)
                    break
            if blocks is not None:
                break
        if stem is None or blocks is None:
            raise ConfigError(
                f"cannot find the layers of {type(m).__name__}: no embeddings + encoder blocks"
            )
        return [stem, *blocks]


def reinitialize(module: nn.Module, model: nn.Module) -> None:
    """Re-initialise a module's weights with its model's own init scheme."""
    init = getattr(model, "_init_weights", None)
    for sub in module.modules():
        if init is not None:
            init(sub)
        elif hasattr(sub, "reset_parameters"):
            sub.reset_parameters()


def _feature_dim(config: Any) -> int:
    if getattr(config, "hidden_sizes", None):
        return int(config.hidden_sizes[-1])
    return int(config.hidden_size)


def build_model(
    spec: BackboneSpec, vocab_size: int | None = None, seed: int | None = None
) -> Encoder:
    """Build the encoder: presets from their config (random), others from the Hub or a path."""
    from transformers import AutoModel

    if seed is not None:
        torch.manual_seed(seed)
    if spec.is_preset:
        preset = BACKBONES.get(spec.name)
        config = preset.make_config()
        if preset.modality == "text" and vocab_size:
            config.vocab_size = vocab_size
        model = _model_from_config(config)
        modality = preset.modality
    else:
        config = _auto_config(spec.location)
        modality = "image" if hasattr(config, "num_channels") else "text"
        if spec.init == "random":
            model = _model_from_config(config)
        elif spec.init == "pretrained":
            model = AutoModel.from_pretrained(spec.location)
        else:
            raise ConfigError(f"backbone init must be 'pretrained' or 'random', got {spec.init!r}")
    return Encoder(model, modality, _feature_dim(config), spec.pooling)


def _model_from_config(config: Any) -> nn.Module:
    from transformers import AutoModel

    kwargs = {"add_pooling_layer": False} if config.model_type in ("bert", "vit", "roberta") else {}
    return AutoModel.from_config(config, **kwargs)


def spec_hash(spec: BackboneSpec, extra: str = "") -> str:
    blob = json.dumps(spec.to_dict(), sort_keys=True) + extra
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def image_settings(spec: BackboneSpec) -> dict[str, Any]:
    """Input size, channels, mean and std the backbone expects."""
    if spec.is_preset:
        preset = BACKBONES.get(spec.name)
        return {
            "size": spec.image_size or preset.image_size,
            "channels": 3,
            "mean": (0.5, 0.5, 0.5),
            "std": (0.5, 0.5, 0.5),
        }
    config = _auto_config(spec.location)
    settings = {"size": spec.image_size or getattr(config, "image_size", 224), "channels": getattr(config, "num_channels", 3),
                "mean": IMAGENET_MEAN, "std": IMAGENET_STD}  # fmt: skip
    try:
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(spec.location)
        settings["mean"] = tuple(getattr(proc, "image_mean", IMAGENET_MEAN))
        settings["std"] = tuple(getattr(proc, "image_std", IMAGENET_STD))
        size = getattr(proc, "size", None) or {}
        if not spec.image_size and isinstance(size, dict):
            settings["size"] = size.get("height") or size.get("shortest_edge") or settings["size"]
    except (OSError, ValueError):
        logger.info("no image processor for %s; using ImageNet statistics", spec.name)
    return settings


def load_encoder_state(encoder: Encoder, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    encoder.load_state_dict(state)
